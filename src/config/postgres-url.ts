import { userInfo } from 'node:os';

/**
 * The URL tgfleet connects to PostgreSQL with, for the fleet and for the cache store alike. pg reads
 * a user missing from the URL as an empty name rather than taking the usual default, so the
 * default (PGUSER, USER, the OS user) is written in here.
 */
export function connectionUrl(databaseUrl: string): string {
  const match = /^(postgres(?:ql)?:\/\/)([^/]*)(.*)$/.exec(databaseUrl);
  if (match === null || (match[2] ?? '').includes('@')) return databaseUrl;
  const user = process.env.PGUSER || process.env.USER || userInfo().username;
  return `${match[1]}${encodeURIComponent(user)}@${match[2]}${match[3]}`;
}
