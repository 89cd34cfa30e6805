import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The code block that follows the README's embed-example marker, exactly as a reader copies it. */
function readmeExample(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const match = /<!-- embed-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (match?.[1] === undefined) throw new Error('README.md has no embed-example code block');
  return match[1];
}

test("the README's embedding example runs as written against the built package", async () => {
  // Inside the repository, so that `import … from 'tgfleet'` resolves through the package's self-reference to dist/.
  const dir = `${root}test/.tmp`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/readme-example.mts`;
  writeFileSync(file, readmeExample());

  // A working folder of its own with the shipped config: the cache store file it writes starts empty, as a reader's first run does.
  const cwd = mkdtempSync(`${dir}/run-`);
  copyFileSync(`${root}config.yaml`, `${cwd}/config.yaml`);

  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], { cwd, timeout: 60_000 }).finally(() => rmSync(cwd, { recursive: true, force: true }));

  const statsLines = stdout.split('\n').filter((line) => / hits, \d+ misses/.test(line));
  expect(statsLines).toHaveLength(2);
  // The second round of the same account in process scope starts warm and hits what the first stored.
  expect(statsLines[0]).toContain('warm start: false');
  expect(statsLines[1]).toContain('warm start: true');
  expect(statsLines[1]).toMatch(/: [1-9]\d* hits/);
  expect(stdout).toContain('lookups');
});
