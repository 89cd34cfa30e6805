import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/cache/store/sqlite-store.js';
import { memoryLogger, startRuntime } from './helpers/runtime.js';

const folder = mkdtempSync(join(tmpdir(), 'tgfleet-store-faults-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('the SQLite store under faults', () => {
  it('survives kill -9 mid-run intact, with every batch written before the kill', async () => {
    const dir = mkdtempSync(join(folder, 'kill-'));
    const file = join(dir, 'cache.sqlite');
    const child = fork(new URL('./fixtures/durable-writer.ts', import.meta.url), [file, '20'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const last = await new Promise<{ set: number; written: number }>((resolve, reject) => {
      child.on('message', (progress: { set: number; written: number }) => {
        // Several batches in, and writes still queued behind the last one: the kill lands mid-run.
        if (progress.written >= 2000 && progress.set > progress.written) resolve(progress);
      });
      child.once('exit', (code) => reject(new Error(`the writer exited before it was killed (${String(code)})`)));
    });
    const exited = new Promise((resolve) => child.once('exit', (_, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const { logger, lines } = memoryLogger();
    const store = await SqliteStore.open(file, logger);
    try {
      expect(lines.filter((line) => line.level === 40)).toEqual([]);
      expect(readdirSync(dir).filter((name) => name.includes('unusable'))).toEqual([]);
      const keys = Array.from({ length: last.set + 20_000 }, (_, i) => `p:${i}`);
      const stored = new Set((await store.getMany('+15550000001', keys, Date.now())).map((entry) => entry.key));
      // Everything a finished batch carried is there, and what is there is what was set first: no holes.
      expect(stored.size).toBeGreaterThanOrEqual(last.written);
      for (let i = 0; i < stored.size; i++) expect(stored.has(`p:${i}`)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('lets a runtime start cold on a corrupted file: a warning, the file moved aside, tasks run, no value logged', async () => {
    const dir = mkdtempSync(join(folder, 'corrupt-'));
    const file = join(dir, 'cache.sqlite');
    const garbage = Buffer.from('SQLite format 3\u0000'.padEnd(8192, 'access-hash-9876543210 '));
    writeFileSync(file, garbage);
    const { logger, lines } = memoryLogger();
    const runtime = await startRuntime(
      (config) => {
        config.cache.scope = 'process';
        config.cache.store.driver = 'sqlite';
        config.cache.store.sqlitePath = file;
      },
      { logger },
    );
    try {
      const account = runtime.accounts[0] as string;
      const world = runtime.simulator!.world;
      const peers = world.channels
        .filter((channel) => !channel.usernameChanges && !world.isChannelPrivateFor(account, channel.id))
        .slice(0, 2)
        .map((channel) => `@${channel.baseUsername}`);
      await runtime.run({ account, task: 'channel-digest', args: { peers } });
    } finally {
      await runtime.shutdown();
    }
    const warning = lines.find((line) => line.level === 40 && String(line.msg).includes('moved aside'));
    expect(warning).toBeDefined();
    const moved = readdirSync(dir).find((name) => name.startsWith('cache.sqlite.unusable-'));
    expect(readFileSync(join(dir, moved as string)).equals(garbage)).toBe(true);
    expect(JSON.stringify(lines)).not.toContain('access-hash-9876543210');
    const fresh = await SqliteStore.open(file);
    try {
      expect((await fresh.accounts(Date.now())).length).toBeGreaterThan(0);
    } finally {
      await fresh.close();
    }
  });
});
