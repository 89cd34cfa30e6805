/**
 * The GramJS connection class a live client uses: TCP full (GramJS's default in Node), sent to a
 * data-centre address given in config instead of the one GramJS picks (it ignores the session's
 * port and dials 80 or 443), and with every connection attempt paced by the client's
 * {@link ReconnectPacer}.
 */
// Through the package's entry first: loading GramJS's connection modules on their own hits its import cycle.
import type { Socket } from 'node:net';
import 'telegram';
import { ConnectionTCPFull, type Connection } from 'telegram/network/connection/index.js';
import type { ReconnectPacer } from './reconnect-pacer.js';

export interface DcAddress {
  host: string;
  port: number;
}

type ConnectionParams = ConstructorParameters<typeof Connection>[0];

export interface DcConnectionOptions {
  pacer: ReconnectPacer;
  /** Where to connect instead of the address GramJS picks. */
  address?: DcAddress;
  /** GramJS's TCP full unless a caller picks another of its connection classes. */
  transport?: typeof Connection;
  /**
   * A transport error from the data centre (404: it does not know the auth key; 429: too many
   * connections). GramJS logs these and leaves the calls waiting.
   */
  onTransportError?: (code: number) => void;
  /**
   * Whether the connection may carry bytes now (a fleet host's lease on the account): it refuses
   * to connect, and closes instead of writing, once this says no.
   */
  mayCarry?: () => boolean;
  /** Each new connection, once up and before any message is written on it. */
  onConnected?: (connection: { close(): void }) => void;
}

/** The connection's lease ran out: it writes nothing more. */
export class ConnectionFencedError extends Error {
  override readonly name = 'ConnectionFencedError';
}

/** A connection class bound to one client: GramJS builds a new instance for each reconnect. */
export function dcConnection({ pacer, address, transport = ConnectionTCPFull, onTransportError, mayCarry = () => true, onConnected }: DcConnectionOptions): typeof Connection {
  return class PacedConnection extends transport {
    constructor(params: ConnectionParams) {
      super(address === undefined ? params : { ...params, ip: address.host, port: address.port });
    }

    override async connect(): Promise<void> {
      await pacer.beforeAttempt();
      if (!mayCarry()) throw new ConnectionFencedError('this process may not use the account now: it does not connect it');
      await super.connect();
      // GramJS leaves Nagle on: its small writes (a request, then an ack) would wait out the peer's delayed ACK, 40 ms a call.
      (this.socket as unknown as { client?: Socket }).client?.setNoDelay(true);
      pacer.connected();
      onConnected?.({ close: () => void this.disconnect() });
    }

    // Every byte GramJS writes after the handshake goes through here: the fence's last word.
    override async _send(data: Buffer): Promise<void> {
      if (!mayCarry()) {
        await this.disconnect();
        throw new ConnectionFencedError('the lease on the account ran out: the connection is closed, not written to');
      }
      await super._send(data);
    }

    override async recv(): Promise<Buffer> {
      const data = (await super.recv()) as Buffer;
      if (data.length === 4) onTransportError?.(-data.readInt32LE(0));
      return data;
    }
  };
}

/** Parses `host:port` (an IPv6 host in brackets); throws naming what is wrong. */
export function parseDcAddress(value: string): DcAddress {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) throw new Error(`"${value}" is not a data-centre address: write host:port, e.g. 127.0.0.1:8443 or [::1]:8443, with a port from 1 to 65535`);
  return { host: match[1] ?? match[2]!, port };
}
