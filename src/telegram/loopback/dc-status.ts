/**
 * A small HTTP endpoint that tells other processes what a standalone loopback data centre has
 * seen: its counters, and per account how many connections are open and how often its auth key
 * was used on two connections at once. A fleet benchmark reads double connections from here, as
 * counted by the data centre rather than by the hosts themselves.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoopbackDc } from './loopback-dc.js';

export interface DcStatus {
  /** Null while it is down: a timed restart could not listen again, for `restartError`. */
  address: { host: string; port: number } | null;
  restartError: string | null;
  openConnections: number;
  counters: LoopbackDc['counters'];
  accounts: ReturnType<LoopbackDc['accountConnections']>;
}

export function dcStatus(dc: LoopbackDc): DcStatus {
  return { address: dc.listening ? dc.address : null, restartError: dc.restartError, openConnections: dc.openConnections, counters: { ...dc.counters }, accounts: dc.accountConnections() };
}

export interface DcStatusServer {
  url: string;
  close(): Promise<void>;
}

/** Serves {@link dcStatus} as JSON on GET / of a loopback address. */
export async function serveDcStatus(dc: LoopbackDc, host: string, port: number): Promise<DcStatusServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/') !== '/') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('GET / gives the data centre status\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(dcStatus(dc))}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
