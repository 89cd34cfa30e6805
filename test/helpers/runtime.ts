import { Writable } from 'node:stream';
import { pino } from 'pino';
import { defaultConfig, type FleetConfig } from '../../src/config/config.js';
import { FleetRuntime, type FleetRuntimeOptions } from '../../src/runtime/fleet-runtime.js';
import type { ReporterEventName, ReporterEvents, Reporter } from '../../src/telemetry/reporter.js';
import type { Logger } from '../../src/telemetry/logger.js';

/** The defaults with quiet logs, the two workers the tests assume, and a grace period a test can wait out. */
export function testConfig(edit?: (config: FleetConfig) => void): FleetConfig {
  const config = defaultConfig();
  config.logging.level = 'silent';
  config.runtime.workers = 2;
  config.runtime.shutdownGraceMs = 2000;
  edit?.(config);
  return config;
}

export function startRuntime(edit?: (config: FleetConfig) => void, options: Omit<FleetRuntimeOptions, 'config'> = {}): Promise<FleetRuntime> {
  return FleetRuntime.start({ ...options, config: testConfig(edit) });
}

/** Every payload of one reporter event, in emission order. */
export function recordEvents<E extends ReporterEventName>(reporter: Reporter, event: E): ReporterEvents[E][0][] {
  const seen: ReporterEvents[E][0][] = [];
  reporter.on(event, (...args: ReporterEvents[E]) => {
    seen.push(args[0]);
  });
  return seen;
}

/** A pino logger whose lines stay in memory, parsed, so a test can look for a message. */
export function memoryLogger(level: 'info' | 'debug' = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** Resolves with the next payload of `event` that matches, then stops listening. */
export function nextEvent<E extends ReporterEventName>(reporter: Reporter, event: E, matches: (payload: ReporterEvents[E][0]) => boolean): Promise<ReporterEvents[E][0]> {
  return new Promise((resolve) => {
    const listener = (...args: ReporterEvents[E]): void => {
      if (!matches(args[0])) return;
      reporter.off(event, listener);
      resolve(args[0]);
    };
    reporter.on(event, listener);
  });
}

/**
 * Hands out a runtime's accounts one at a time, so that tests sharing a runtime (and its process
 * cache and cooldowns) never share an account.
 */
export function accountPicker(runtime: () => FleetRuntime): () => string {
  let next = 0;
  return () => {
    const account = runtime().accounts[next++];
    if (account === undefined) throw new Error('these tests need more simulated accounts: raise telegram.simulated.accounts');
    return account;
  };
}
