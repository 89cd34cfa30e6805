import type { MessagePort } from 'node:worker_threads';

/**
 * Stands between a task's worker and the simulated Telegram when an account's right to connect
 * can end while its client lives (a fleet host that loses the account's shard): `open` gets the
 * account and a way to make the real connection, and hands the worker the port it should use.
 */
export interface ConnectionGate {
  open(account: string, connect: () => MessagePort): MessagePort;
}
