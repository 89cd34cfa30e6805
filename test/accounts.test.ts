import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/config.js';
import { resolveAccounts, simulatedPhones } from '../src/runtime/accounts.js';

const SESSION = '1BVtsOKABu3Gx0ZsecretSessionStringvalue==';
const API_HASH = '0123456789abcdef0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'tgfleet-accounts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function liveConfig(account: Record<string, unknown>) {
  return parseConfig({ telegram: { mode: 'live' }, accounts: [{ phone: '+15550001111', api_id: 123456, ...account }] }).config;
}

describe('live accounts', () => {
  afterEach(() => {
    delete process.env.TGFLEET_TEST_SESSION;
    delete process.env.TGFLEET_TEST_API_HASH;
  });

  it('reads the session and api_hash from the environment or a file, at start and not before', async () => {
    process.env.TGFLEET_TEST_SESSION = `${SESSION}\n`;
    process.env.TGFLEET_TEST_API_HASH = API_HASH;
    const sessionFile = join(dir, 'second.session');
    writeFileSync(sessionFile, `${SESSION}2\n`);
    const config = parseConfig({
      telegram: { mode: 'live' },
      accounts: [
        { phone: '+15550001111', api_id: 1, api_hash_env: 'TGFLEET_TEST_API_HASH', session_env: 'TGFLEET_TEST_SESSION' },
        { phone: '+15550002222', api_id: 2, api_hash: API_HASH, session_file: sessionFile },
      ],
    }).config;

    const fleet = await resolveAccounts(config);

    expect(fleet.accounts).toEqual([
      { phone: '+15550001111', apiId: 1, apiHash: API_HASH, session: SESSION },
      { phone: '+15550002222', apiId: 2, apiHash: API_HASH, session: `${SESSION}2` },
    ]);
    expect(fleet.timeScale).toBe(1);
    expect(fleet.simulator).toBeUndefined();
    await fleet.close();
  });

  it('names the account and the missing variable or file, and never a secret', async () => {
    process.env.TGFLEET_TEST_API_HASH = API_HASH;
    const missingEnv = resolveAccounts(liveConfig({ api_hash_env: 'TGFLEET_TEST_API_HASH', session_env: 'TGFLEET_TEST_SESSION' }));
    await expect(missingEnv).rejects.toThrow('account +15550001111: the environment variable TGFLEET_TEST_SESSION (its session string) is not set');

    const missingFile = resolveAccounts(liveConfig({ api_hash: API_HASH, session_file: join(dir, 'nope.session') }));
    await expect(missingFile).rejects.toThrow(/^account \+15550001111: cannot read its session string from .*nope\.session: ENOENT$/);
    await expect(missingFile).rejects.not.toThrow(API_HASH);
  });

  it('refuses live mode with no accounts, saying what to add', async () => {
    await expect(resolveAccounts(parseConfig({ telegram: { mode: 'live' } }).config)).rejects.toThrow(/lists no accounts: add them under accounts:/);
  });
});

describe('simulated accounts', () => {
  it('are numbered in Telegram’s reserved test range, one phone per account', () => {
    expect(simulatedPhones(3)).toEqual(['+9996610001', '+9996610002', '+9996610003']);
  });
});
