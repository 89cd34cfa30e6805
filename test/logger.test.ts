import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/telemetry/logger.js';

const SESSION = '1BVtsOKABu3Gx0ZsecretSessionStringvalue==';
const API_HASH = '0123456789abcdef0123456789abcdef';
const PHONE_CODE = '71523';
const SECRETS = [SESSION, API_HASH, PHONE_CODE];

function capture(level: 'info' | 'debug' = 'info') {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = createLogger({ level, destination });
  return {
    logger,
    output: () => text,
    records: () =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger redaction', () => {
  it('censors session strings, api_hash and phone codes at the top level', () => {
    const { logger, output, records } = capture();
    logger.info({ session: SESSION, sessionString: SESSION, session_string: SESSION, apiHash: API_HASH, api_hash: API_HASH, phoneCode: PHONE_CODE, phone_code: PHONE_CODE, account: '+100' }, 'login');
    const [record] = records();
    expect(record).toMatchObject({
      session: '[redacted]',
      sessionString: '[redacted]',
      session_string: '[redacted]',
      apiHash: '[redacted]',
      api_hash: '[redacted]',
      phoneCode: '[redacted]',
      phone_code: '[redacted]',
      account: '+100',
    });
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });

  it('censors them one and two levels down', () => {
    const { logger, output, records } = capture();
    logger.info({ account: { phone: '+100', apiHash: API_HASH, credentials: { session: SESSION, phoneCode: PHONE_CODE } } }, 'account loaded');
    logger.info({ login: { phone_code: PHONE_CODE, api_hash: API_HASH } }, 'code sent');
    const [loaded, sent] = records();
    expect(loaded).toMatchObject({ account: { phone: '+100', apiHash: '[redacted]', credentials: { session: '[redacted]', phoneCode: '[redacted]' } } });
    expect(sent).toMatchObject({ login: { phone_code: '[redacted]', api_hash: '[redacted]' } });
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });

  it('censors them in a child logger, its bindings included, and at debug level', () => {
    const { logger, output } = capture('debug');
    const child = logger.child({ component: 'accounts', session: SESSION });
    child.debug({ config: { accounts: { session_string: SESSION, api_hash: API_HASH } } }, 'config read');
    child.info({ phoneCode: PHONE_CODE }, 'signing in');
    expect(output()).toContain('config read');
    expect(output()).toContain('signing in');
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });

  it('leaves other fields and the level from the config alone', () => {
    const { logger, records } = capture('info');
    logger.debug({ session: SESSION }, 'hidden by level');
    logger.warn({ account: '+100', scope: 'process', warmStart: true }, 'Using process cache (warm_start=true)');
    const all = records();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ level: 40, name: 'tgfleet', account: '+100', scope: 'process', warmStart: true, msg: 'Using process cache (warm_start=true)' });
  });
});

describe('createLogger redaction at any depth', () => {
  it('censors secrets in a whole config logged by mistake, inside arrays and deep objects', () => {
    const { logger, output } = capture();
    logger.info({ cfg: { accounts: [{ phone: '+100', api_hash: API_HASH, creds: { nested: { session: SESSION } } }] }, login: [{ phone_code: PHONE_CODE }] }, 'config');
    expect(output()).toContain('+100');
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });
});

describe('createLogger redaction of errors and child loggers', () => {
  it('censors secrets an error carries as properties, and keeps Telegram’s error code visible', () => {
    const { logger, output, records } = capture();
    const error = Object.assign(new Error('AUTH_KEY_UNREGISTERED'), { code: 401, session: SESSION, request: { apiHash: API_HASH } });

    logger.error({ err: error }, 'login failed');

    expect(records()[0]).toMatchObject({ err: { message: 'AUTH_KEY_UNREGISTERED', code: 401, session: '[redacted]' } });
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });

  it('censors secrets nested in a child logger’s bindings, and in a child’s child', () => {
    const { logger, output } = capture();
    const child = logger.child({ account: { phone: '+100', session: SESSION } });
    child.child({ creds: [{ api_hash: API_HASH }] }).info('working');

    expect(output()).toContain('+100');
    for (const secret of SECRETS) expect(output()).not.toContain(secret);
  });
});
