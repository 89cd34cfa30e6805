/**
 * A Telegram data centre on the loopback interface: real TCP, real MTProto 2.0, answered by the
 * same simulated world as the in-process simulator. Each account is provisioned with an auth key
 * and issued a StringSession, so a client connects as it would to Telegram, with no key exchange,
 * and every byte of its network stack runs. Faults can be switched on to see what clients and the
 * runtime do when the network or the server misbehaves.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SimulatedTelegram } from '../simulated/simulated-telegram.js';
import { DcFaults, type DcFaultOptions } from './dc-faults.js';
import { MtprotoConnection, type AccountKey, type DcContext, type DcCounters } from './mtproto-connection.js';
import { authKeyId } from './mtproto-crypto.js';
import { dcConfig } from './service-replies.js';
import { issueSession, type IssuedSession } from './issued-sessions.js';

export interface LoopbackDcOptions {
  /** Loopback address to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  faults?: DcFaultOptions;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function newSalt(): bigint {
  return randomBytes(8).readBigInt64LE(0);
}

function zeroCounters(): DcCounters {
  return {
    connections: 0,
    messages: 0,
    rpcCalls: 0,
    badSalts: 0,
    newSessions: 0,
    drops: 0,
    duplicateAuthKeys: 0,
    unknownAuthKeys: 0,
    revokedAnswers: 0,
    gzippedRequests: 0,
    gzippedResults: 0,
    restarts: 0,
    doubleConnections: 0,
    pingDisconnects: 0,
  };
}

/** Microseconds apart from the last one, so ids stay unique and increasing however fast they are asked for. */
class MessageIds {
  private last = 0n;

  next(kind: 1 | 3): bigint {
    const now = BigInt(Date.now());
    let id = ((now / 1000n) << 32n) | (((now % 1000n) * 4_294_967n) & ~3n) | BigInt(kind);
    if (id <= this.last) id = (this.last & ~3n) + 4n + BigInt(kind);
    this.last = id;
    return id;
  }
}

export class LoopbackDc {
  readonly faults: DcFaults;
  readonly counters: DcCounters = zeroCounters();
  private readonly host: string;
  private requestedPort: number;
  private server: Server | undefined;
  private salt = newSalt();
  private readonly keys = new Map<string, AccountKey>();
  private readonly byAccount = new Map<string, AccountKey>();
  private readonly sessions = new Map<string, Set<bigint>>();
  private readonly connections = new Set<MtprotoConnection>();
  /** AUTH_KEY_DUPLICATED answers by account: the moments its key was in use on two connections at once. */
  private readonly duplicatesByAccount = new Map<string, number>();
  /** Double connections by account (DcCounters.doubleConnections). */
  private readonly doublesByAccount = new Map<string, number>();
  private readonly restartEveryMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Why a timed restart could not listen again (its port was taken meanwhile); the data centre then stays down. */
  restartError: string | null = null;
  private readonly msgIds = new MessageIds();
  private readonly context: DcContext;

  constructor(
    readonly simulator: SimulatedTelegram,
    options: LoopbackDcOptions = {},
  ) {
    this.host = options.host ?? '127.0.0.1';
    if (!isLoopback(this.host)) throw new Error(`the loopback data centre listens on loopback addresses only (127.x.x.x, ::1, localhost), not ${this.host}`);
    this.requestedPort = options.port ?? 0;
    this.faults = new DcFaults(options.faults);
    this.restartEveryMs = options.faults?.restartEveryMs ?? 0;
    this.context = this.makeContext();
  }

  /** The address clients connect to; known once started. */
  get address(): { host: string; port: number } {
    if (this.server === undefined) throw new Error('the loopback data centre is not listening: call start() first');
    return { host: this.host, port: (this.server.address() as AddressInfo).port };
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Open connections, with the account each is bound to once it has sent a message. */
  openConnectionsOf(account: string): number {
    let count = 0;
    for (const connection of this.connections) if (connection.account === account) count++;
    return count;
  }

  /** Per account: its open connections now, how often its key was answered AUTH_KEY_DUPLICATED, and its double connections. */
  accountConnections(): Record<string, { open: number; duplicateAuthKeys: number; doubleConnections: number }> {
    const stats: Record<string, { open: number; duplicateAuthKeys: number; doubleConnections: number }> = {};
    for (const account of this.byAccount.keys()) {
      stats[account] = { open: 0, duplicateAuthKeys: this.duplicatesByAccount.get(account) ?? 0, doubleConnections: this.doublesByAccount.get(account) ?? 0 };
    }
    for (const connection of this.connections) {
      const entry = connection.account === undefined ? undefined : stats[connection.account];
      if (entry !== undefined) entry.open++;
    }
    return stats;
  }

  async start(): Promise<this> {
    await this.listen();
    if (this.restartEveryMs > 0 && this.restartTimer === undefined) {
      this.restartTimer = setInterval(() => {
        this.restart().catch((error: unknown) => {
          clearInterval(this.restartTimer);
          this.restartError = (error as Error).message;
        });
      }, this.restartEveryMs);
      this.restartTimer.unref();
    }
    return this;
  }

  private async listen(): Promise<void> {
    const server = createServer((socket: Socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    // A restart comes back on the same port, so issued sessions stay valid.
    this.requestedPort = (server.address() as AddressInfo).port;
  }

  /** Gives each account an auth key (kept if it has one) and returns the sessions that carry them. */
  async provision(accounts: readonly string[]): Promise<IssuedSession[]> {
    const { host, port } = this.address;
    return Promise.all(
      accounts.map((account) => {
        let key = this.byAccount.get(account);
        if (key === undefined) {
          const authKey = randomBytes(256);
          key = { account, authKey, keyId: authKeyId(authKey) };
          this.keys.set(key.keyId.toString('hex'), key);
          this.byAccount.set(account, key);
        }
        return issueSession(account, key.authKey, host, port);
      }),
    );
  }

  /** Drops every connection (as a crash would) and listens again on the same port with a new salt. */
  async restart(): Promise<void> {
    await this.close();
    this.salt = newSalt();
    this.counters.restarts++;
    await this.listen();
  }

  /** Closes the listener and drops every connection; restarts on a timer end too. */
  async stop(): Promise<void> {
    clearInterval(this.restartTimer);
    this.restartTimer = undefined;
    await this.close();
  }

  private async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const connection of [...this.connections]) connection.drop();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.connections.add(new MtprotoConnection(socket, this.context));
  }

  private makeContext(): DcContext {
    const dc = this;
    return {
      faults: this.faults,
      counters: this.counters,
      get salt() {
        return dc.salt;
      },
      keyOwner: (keyId) => this.keys.get(keyId.toString('hex')),
      nextMsgId: (kind) => this.msgIds.next(kind),
      isNewSession: (account, sessionId) => {
        let seen = this.sessions.get(account);
        if (seen === undefined) this.sessions.set(account, (seen = new Set()));
        if (seen.has(sessionId)) return false;
        seen.add(sessionId);
        return true;
      },
      claimKey: (connection, account, sessionId) => this.claimKey(connection, account, sessionId),
      onBound: (connection, account, sessionId) => void this.countDouble(connection, account, sessionId),
      config: () => {
        const { host, port } = this.address;
        return dcConfig(host, port, Math.floor(Date.now() / 1000));
      },
      answer: (account, request) => this.simulator.handle(account, request),
      onClosed: (connection) => this.connections.delete(connection),
    };
  }

  private rival(connection: MtprotoConnection, account: string, sessionId: bigint): boolean {
    for (const other of this.connections) {
      if (other !== connection && other.isOpen && other.account === account && other.session !== 0n && other.session !== sessionId) return true;
    }
    return false;
  }

  /**
   * A client that reconnects closes its old socket before opening the new one, but the server may
   * read the new socket first; so a rival is only a duplicate if it is still open once the event
   * loop has gone round and delivered any close already on the wire.
   */
  private async rivalStaysOpen(connection: MtprotoConnection, account: string, sessionId: bigint): Promise<boolean> {
    if (!this.rival(connection, account, sessionId)) return false;
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    return this.rival(connection, account, sessionId);
  }

  private async claimKey(connection: MtprotoConnection, account: string, sessionId: bigint): Promise<boolean> {
    if (!(await this.rivalStaysOpen(connection, account, sessionId))) return true;
    this.duplicatesByAccount.set(account, (this.duplicatesByAccount.get(account) ?? 0) + 1);
    return false;
  }

  /** A connection bound while another client of its account is connected: the overlap a fleet's fence must prevent. */
  private async countDouble(connection: MtprotoConnection, account: string, sessionId: bigint): Promise<void> {
    if (!(await this.rivalStaysOpen(connection, account, sessionId))) return;
    this.counters.doubleConnections++;
    this.doublesByAccount.set(account, (this.doublesByAccount.get(account) ?? 0) + 1);
  }
}
