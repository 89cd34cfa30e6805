import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const OPTIONAL = ['better-sqlite3', 'prom-client', 'pino-pretty'];

/**
 * Runs `code` as an ES module in a fresh Node inside the repository (so `tgfleet` resolves to the
 * built package) and returns the optional packages it loaded: CommonJS modules in require's
 * cache, and native addons mapped into the process.
 */
async function optionalPackagesLoadedBy(code: string): Promise<string[]> {
  const probe = `${code}
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
const loaded = Object.keys(createRequire(import.meta.url).cache);
const maps = existsSync('/proc/self/maps') ? readFileSync('/proc/self/maps', 'utf8') : '';
const names = ${JSON.stringify(OPTIONAL)}.filter((name) => loaded.some((path) => path.includes('/node_modules/' + name + '/')));
if (maps.includes('better_sqlite3.node')) names.push('better_sqlite3.node');
console.log(JSON.stringify(names));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as string[];
}

describe('what an import loads', () => {
  it("a bare import('tgfleet') loads no SQLite addon, no prom-client and no pino-pretty", async () => {
    expect(await optionalPackagesLoadedBy("const tgfleet = await import('tgfleet'); if (typeof tgfleet.FleetRuntime !== 'function') throw new Error('no FleetRuntime');")).toEqual([]);
  });

  it('a JSON logger loads no pino-pretty; a pretty one does', async () => {
    expect(await optionalPackagesLoadedBy("const { createLogger } = await import('tgfleet'); createLogger({ level: 'silent' });")).toEqual([]);
    expect(await optionalPackagesLoadedBy("const { createLogger } = await import('tgfleet'); createLogger({ level: 'silent', pretty: true });")).toEqual(['pino-pretty']);
  });

  it('tgfleet/metrics is where SQLite and Prometheus load', async () => {
    const loaded = await optionalPackagesLoadedBy("const metrics = await import('tgfleet/metrics'); if (typeof metrics.FleetMetrics !== 'function') throw new Error('no FleetMetrics');");
    expect(loaded).toEqual(expect.arrayContaining(['better-sqlite3', 'prom-client']));
    expect(loaded).not.toContain('pino-pretty');
  });
});
