/**
 * The package as a host gets it: `npm pack`, installed into a fresh folder outside the repository
 * (so nothing resolves through the repository's node_modules, and no devDependency is there), with
 * the README's examples run in it as an ES module, through require(), and with a TypeScript task.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

interface LockEntry {
  version?: string;
  dev?: boolean;
  link?: boolean;
  [field: string]: unknown;
}

/** npm as `npm test` runs it (the Node under test's own), else the one on PATH. */
function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const cli = process.env.npm_execpath;
  const [file, argv] = cli?.endsWith('npm-cli.js') ? [process.execPath, [cli, ...args]] : ['npm', args];
  return run(file, argv, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
}

/** The code block that follows a README marker, exactly as a reader copies it. */
function readmeBlock(marker: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- ${marker}[:\\s][^>]*-->\\s*\`\`\`(?:js|ts)\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (match?.[1] === undefined) throw new Error(`README.md has no code block after <!-- ${marker} -->`);
  return match[1];
}

const dir = mkdtempSync(join(tmpdir(), 'tgfleet-pack-'));
const app = join(dir, 'host');
let packed: string[] = [];

/**
 * The host's lockfile pins every production dependency at the version this repository's lockfile
 * does, so `npm ci` installs from the npm cache that the repository's own `npm ci` filled, and the
 * fresh folder runs exactly what the tests here ran against.
 */
function hostLockfile(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const own = lock.packages[''] as LockEntry;
  const packages: Record<string, unknown> = {
    '': { name: 'host', dependencies: { tgfleet: tarball } },
    'node_modules/tgfleet': {
      version: own.version,
      resolved: tarball,
      dependencies: own.dependencies,
      peerDependencies: own.peerDependencies,
      peerDependenciesMeta: own.peerDependenciesMeta,
      engines: own.engines,
      bin: own.bin,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev && !entry.link) packages[path] = entry;
  return { name: 'host', lockfileVersion: 3, requires: true, packages };
}

beforeAll(async () => {
  // dist/ is what `npm test` built; --ignore-scripts keeps pack from rebuilding it under the other tests.
  const { stdout } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  const [report] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  packed = report.files.map((file) => file.path);
  const tarball = `file:../${report.filename}`;
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'host', private: true, dependencies: { tgfleet: tarball } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(hostLockfile(tarball), null, 2));
  await npm(['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
  // The addon better-sqlite3's install script would compile: the same version's, built by the repository's install for this Node.
  const addon = join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  mkdirSync(join(app, 'node_modules', addon, '..'), { recursive: true });
  copyFileSync(join(root, 'node_modules', addon), join(app, 'node_modules', addon));
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a file in a working folder of its own under the host, with the shipped config copied in as the README says. */
async function runInHost(name: string, source: string): Promise<string> {
  const cwd = mkdtempSync(join(app, 'run-'));
  copyFileSync(join(app, 'node_modules', 'tgfleet', 'config.yaml'), join(cwd, 'config.yaml'));
  writeFileSync(join(cwd, name), source);
  const { stdout } = await run(process.execPath, [name], { cwd, timeout: 60_000 });
  return stdout;
}

/** Two rounds of one account in process scope: the second starts warm and hits what the first stored. */
function expectWarmSecondRound(stdout: string): void {
  const statsLines = stdout.split('\n').filter((line) => / hits, \d+ misses/.test(line));
  expect(statsLines, stdout).toHaveLength(2);
  expect(statsLines[0]).toContain('warm start: false');
  expect(statsLines[1]).toContain('warm start: true');
  expect(statsLines[1]).toMatch(/: [1-9]\d* hits/);
  expect(stdout).toContain('lookups');
}

describe('the packed package', () => {
  test('holds the product only: no benchmark, no test file, no TypeScript source', () => {
    expect(packed).toContain('dist/src/index.js');
    expect(packed).toContain('dist/workers/account-worker.js');
    const stray = packed.filter((path) => !/^dist\/(src|workers|tasks)\//.test(path) && !['package.json', 'README.md', 'config.yaml', 'LICENSE'].includes(path));
    expect(stray).toEqual([]);
    expect(packed.filter((path) => /(^|\/)(bench|test|fixtures)\//.test(path) || /\.bench\.|\.test\./.test(path))).toEqual([]);
    expect(packed.filter((path) => /\.[cm]?ts$/.test(path) && !/\.d\.[cm]?ts$/.test(path))).toEqual([]);
  });

  test("installed in a fresh folder, runs the README's example as an ES module", async () => {
    expectWarmSecondRound(await runInHost('embed.mjs', readmeBlock('embed-example')));
  });

  test("and the README's CommonJS example through require()", async () => {
    expectWarmSecondRound(await runInHost('embed.cjs', readmeBlock('embed-example-cjs')));
  });

  test("runs the README's TypeScript task from its .ts path where Node strips types, and otherwise names tsx as what is missing", async () => {
    const runner = `import { FleetRuntime, loadConfig } from 'tgfleet';
const { config } = loadConfig();
config.logging.level = 'warn';
const runtime = await FleetRuntime.start({ config });
try {
  const peers = runtime.simulator.world.channels.slice(0, 2).map((channel) => '@' + channel.baseUsername);
  const outcome = await runtime.run({ account: runtime.accounts[0], task: './titles.ts', args: { peers } }).then(
    (titles) => ({ titles, expected: runtime.simulator.world.channels.slice(0, 2).map((channel) => channel.title) }),
    (error) => ({ error: error.name + ': ' + error.message }),
  );
  console.log(JSON.stringify(outcome));
} finally {
  await runtime.shutdown();
}
`;
    const cwd = mkdtempSync(join(app, 'run-'));
    copyFileSync(join(app, 'node_modules', 'tgfleet', 'config.yaml'), join(cwd, 'config.yaml'));
    writeFileSync(join(cwd, 'titles.ts'), readmeBlock('typescript-task-example'));
    writeFileSync(join(cwd, 'run-titles.mjs'), runner);
    const { stdout } = await run(process.execPath, ['run-titles.mjs'], { cwd, timeout: 60_000 });
    const outcome = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { titles?: string[]; expected?: string[]; error?: string };
    if ((process.features as { typescript?: unknown }).typescript) {
      expect(outcome.error).toBeUndefined();
      expect(outcome.titles).toEqual(outcome.expected);
      expect(outcome.titles).toHaveLength(2);
    } else {
      // Node 20 without tsx installed: the fresh folder has none, since tsx is an optional peer.
      expect(outcome.error).toMatch(/^TaskModuleError: task module \.\/titles\.ts is TypeScript, which Node v\d+\.\S+ does not run by itself: install tsx/);
    }
  });
});
