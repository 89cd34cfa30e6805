import { parentPort, workerData } from 'node:worker_threads';
import { SqliteFile } from './sqlite-file.js';
import type { SqliteReply, SqliteRequest } from './sqlite-store.js';

/*
 * The SQLite store's own thread. better-sqlite3 is synchronous, and a batch of writes (or the WAL
 * checkpoint a commit sets off, which waits on the disk) would stop every lookup of the thread
 * that ran it; here it stops only this one. Requests are answered in the order they came.
 */
const port = parentPort;
if (port === null) throw new Error('sqlite-worker.js is the SQLite store thread: it runs in a worker, started by SqliteStore.open');

const failure = (error: unknown): { message: string; code: string | undefined } => {
  const code = (error as { code?: unknown }).code;
  return { message: (error as Error).message ?? String(error), code: typeof code === 'string' ? code : undefined };
};

function opened(): SqliteFile | null {
  try {
    const { file, movedAside } = SqliteFile.open((workerData as { path: string }).path);
    port?.postMessage({ id: 0, result: movedAside } satisfies SqliteReply);
    return file;
  } catch (error) {
    port?.postMessage({ id: 0, error: failure(error) } satisfies SqliteReply);
    return null;
  }
}

function answer(file: SqliteFile, request: SqliteRequest): unknown {
  switch (request.op) {
    case 'getMany':
      return file.getMany(...request.args);
    case 'recent':
      return file.recent(...request.args);
    case 'accounts':
      return file.accounts(...request.args);
    case 'write':
      return file.write(...request.args);
    case 'delete':
      return file.delete(...request.args);
    case 'deleteAccount':
      return file.deleteAccount(...request.args);
    case 'prune':
      return file.prune(...request.args);
    case 'close':
      return file.close();
  }
}

const file = opened();
if (file === null) port.close();
else {
  port.on('message', (request: SqliteRequest) => {
    try {
      port.postMessage({ id: request.id, result: answer(file, request) } satisfies SqliteReply);
    } catch (error) {
      port.postMessage({ id: request.id, error: failure(error) } satisfies SqliteReply);
    }
    if (request.op === 'close') port.close();
  });
}
