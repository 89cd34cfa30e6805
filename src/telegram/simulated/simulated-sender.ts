/**
 * Puts a simulated connection under a real GramJS `TelegramClient`. The seam is the MTProto
 * sender: `invoke` hands it a RequestState holding the serialized request and waits on it, so
 * everything above the sender (request serialization, result parsing, entity processing, the
 * session and GramJS's own caches) is GramJS's real code.
 */
import { Api, errors, Logger, TelegramClient } from 'telegram';
import type { TelegramClientParams } from 'telegram/client/telegramBaseClient.js';
import { BinaryReader } from 'telegram/extensions/index.js';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { StringSession } from 'telegram/sessions/index.js';
import type { TelegramTransport, TransportError } from './transport.js';

/** The part of GramJS's RequestState that a sender answers. */
interface RequestState {
  /** GramJS's typings omit `readResult`, which every request object has. */
  request: Api.AnyRequest & { readResult(reader: BinaryReader): unknown };
  data: Buffer;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/** The GramJS internals the seam replaces (declared hidden or protected in its typings). */
interface ClientInternals {
  _sender?: unknown;
  _connectedDeferred: { resolve(): void };
  connect(): Promise<boolean>;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** GramJS's own mapping, so callers get the classes a real connection gives (FloodWaitError…). */
function toGramJsError(error: TransportError, request: Api.AnyRequest): Error {
  const rpcError = new Api.RpcError({ errorCode: error.code, errorMessage: error.message });
  return errors.RPCMessageToError(rpcError, request) as Error;
}

/**
 * Stands in for GramJS's MTProtoSender: no auth key, no update loop, no ping timer, so a
 * disconnected client leaves nothing running.
 */
class SimulatedSender {
  userDisconnected = false;
  _disconnected = false;
  readonly isReconnecting = false;
  readonly isConnecting = false;

  constructor(private readonly transport: TelegramTransport) {}

  isConnected(): boolean {
    return !this._disconnected;
  }

  addStateToQueue(state: RequestState): void {
    this.transport.call(state.data).then(
      (reply) => {
        if (!reply.ok) {
          state.reject(toGramJsError(reply.error, state.request));
          return;
        }
        try {
          state.resolve(state.request.readResult(new BinaryReader(toBuffer(reply.result))));
        } catch (error) {
          state.reject(error);
        }
      },
      (error: unknown) => state.reject(error),
    );
  }

  async disconnect(): Promise<void> {
    this.userDisconnected = true;
    this._disconnected = true;
    this.transport.close();
  }
}

/**
 * Makes `client.connect()` attach `transport` instead of opening a socket. The transport is one
 * connection: disconnecting the client closes it, and a later `connect()` cannot revive it.
 */
export function installSimulatedSender(client: TelegramClient, transport: TelegramTransport): void {
  const internals = client as unknown as ClientInternals;
  internals.connect = async () => {
    internals._sender = new SimulatedSender(transport);
    internals._connectedDeferred.resolve();
    return true;
  };
}

export type SimulatedClientOptions = Partial<TelegramClientParams>;

/**
 * A connected GramJS client over `transport`. Defaults suit a fleet: flood waits reach the caller
 * instead of being slept inside the client, and GramJS logs nothing.
 */
export async function createSimulatedClient(transport: TelegramTransport, options: SimulatedClientOptions = {}): Promise<TelegramClient> {
  const client = new TelegramClient(new StringSession(''), 1, 'simulated', {
    floodSleepThreshold: 0,
    baseLogger: new Logger(LogLevel.NONE),
    ...options,
    connectionRetries: 0,
  });
  installSimulatedSender(client, transport);
  await client.connect();
  return client;
}
