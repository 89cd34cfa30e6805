/**
 * The GramJS connection class a live client uses: TCP full (GramJS's default in Node), sent to a
 * data-centre address given in config instead of the one GramJS picks (it ignores the session's
 * port and dials 80 or 443), and with every connection attempt paced by the client's
 * {@link ReconnectPacer}.
 */
import { ConnectionTCPFull, type Connection } from 'telegram/network/connection/index.js';
import type { ReconnectPacer } from './reconnect-pacer.js';

export interface DcAddress {
  host: string;
  port: number;
}

type ConnectionParams = ConstructorParameters<typeof Connection>[0];

/**
 * A connection class bound to one client: GramJS builds a new instance for each reconnect.
 * `transport` is GramJS's TCP full unless a caller picks another of its connection classes.
 */
export function dcConnection(pacer: ReconnectPacer, address: DcAddress | undefined, transport: typeof Connection = ConnectionTCPFull): typeof Connection {
  return class PacedConnection extends transport {
    constructor(params: ConnectionParams) {
      super(address === undefined ? params : { ...params, ip: address.host, port: address.port });
    }

    override async connect(): Promise<void> {
      await pacer.beforeAttempt();
      await super.connect();
      pacer.connected();
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
