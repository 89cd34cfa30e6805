import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../src/config/schema.js';

/** Every leaf key of the defaults, as `a.b.c`, with its default value. */
function leaves(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) for (const [path, leaf] of leaves(child, prefix ? `${prefix}.${key}` : key)) out.set(path, leaf);
  } else {
    out.set(prefix, value);
  }
  return out;
}

/** The reference table's rows: key → default as written (without backticks). */
function referenceRows(): Map<string, string> {
  const text = readFileSync(new URL('../docs/CONFIGURATION.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const match of text.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)) rows.set(match[1] as string, match[2] as string);
  return rows;
}

const defaults = leaves(configSchema.parse({}));

describe('the configuration reference', () => {
  it('documents every key of the schema with the schema default', () => {
    const rows = referenceRows();
    for (const [key, value] of defaults) {
      expect(rows.has(key), `docs/CONFIGURATION.md has no row for ${key}`).toBe(true);
      const written = rows.get(key) as string;
      const expected = Array.isArray(value) ? JSON.stringify(value) : String(value);
      expect(written, `default of ${key}`).toBe(expected);
    }
  });

  it('documents no key the schema does not have', () => {
    for (const key of referenceRows().keys()) expect(defaults.has(key), `${key} is documented but not in the schema`).toBe(true);
  });

  it('lists every key in the shipped config.yaml, so operators see each knob with its comment', () => {
    const shipped = leaves(parseYaml(readFileSync(new URL('../config.yaml', import.meta.url), 'utf8')) as unknown);
    for (const key of defaults.keys()) expect(shipped.has(key), `config.yaml does not show ${key}`).toBe(true);
  });
});
