/**
 * The sessions a loopback data centre issues: GramJS StringSessions carrying the account's auth
 * key and the data centre's address, and the file `tgfleet dc` writes them to so that other
 * processes can join it. The file holds auth keys, so it is written readable by its owner only.
 */
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { StringSession } from 'telegram/sessions/index.js';
import { LOOPBACK_DC_ID } from './service-replies.js';

export interface IssuedSession {
  phone: string;
  /** A GramJS StringSession: data centre, address, port and auth key. */
  session: string;
}

/** What a process needs to join a running data centre, and to draw its workload from the same world. */
export interface DcSessionsFile {
  host: string;
  port: number;
  world: { seed: number; users: number; channels: number; timeScale: number };
  accounts: IssuedSession[];
}

export async function issueSession(phone: string, authKey: Buffer, host: string, port: number): Promise<IssuedSession> {
  const session = new StringSession('');
  const key = new AuthKey();
  await key.setKey(authKey);
  // StringSession stores the port as a signed 16-bit number; clients take the address from the data centre override.
  session.setDC(LOOPBACK_DC_ID, host, port > 0x7fff ? 443 : port);
  session.setAuthKey(key);
  return { phone, session: session.save() };
}

export async function writeSessionsFile(path: string, contents: DcSessionsFile): Promise<void> {
  await writeFile(path, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file.
  await chmod(path, 0o600);
}

function isIssued(value: unknown): value is IssuedSession {
  return typeof value === 'object' && value !== null && typeof (value as IssuedSession).phone === 'string' && typeof (value as IssuedSession).session === 'string';
}

export async function readSessionsFile(path: string): Promise<DcSessionsFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`cannot read the loopback data centre's sessions file ${path}: ${reason} (start one with \`tgfleet dc --sessions ${path}\`)`);
  }
  const file = parsed as Partial<DcSessionsFile>;
  const world = file.world;
  const worldOk = typeof world === 'object' && world !== null && [world.seed, world.users, world.channels, world.timeScale].every((value) => typeof value === 'number');
  if (typeof file.host !== 'string' || typeof file.port !== 'number' || !worldOk || !Array.isArray(file.accounts) || !file.accounts.every(isIssued)) {
    throw new Error(`${path} is not a sessions file written by \`tgfleet dc\`: it needs host, port, world { seed, users, channels, timeScale } and accounts [{ phone, session }]`);
  }
  return file as DcSessionsFile;
}
