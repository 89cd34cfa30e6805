import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, rangeOf } from '../src/config/schema.js';

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

const reference = readFileSync(new URL('../docs/CONFIGURATION.md', import.meta.url), 'utf8');

/** The reference table's rows: key → default as written (without backticks). */
function referenceRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of reference.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)) rows.set(match[1] as string, match[2] as string);
  return rows;
}

/** The reference table's "allowed" column: key → text. */
function allowedColumn(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of reference.matchAll(/^\| `([^`]+)` \| `[^`]*` \| ([^|]*) \|/gm)) rows.set(match[1] as string, match[2] as string);
  return rows;
}

/** The schema of each leaf key of the config's sections (lists excepted). */
function leafSchemas(schema: z.ZodType, prefix = ''): Map<string, z.ZodType> {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodPrefault || current instanceof z.ZodPipe) {
    current = (current instanceof z.ZodPipe ? current.in : current.unwrap()) as z.ZodType;
  }
  const out = new Map<string, z.ZodType>();
  if (!(current instanceof z.ZodObject)) return out.set(prefix, schema);
  for (const [key, child] of Object.entries(current.shape as Record<string, z.ZodType>)) {
    for (const [path, leaf] of leafSchemas(child, prefix ? `${prefix}.${key}` : key)) out.set(path, leaf);
  }
  return out;
}

function isNumber(schema: z.ZodType): boolean {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap() as z.ZodType;
  return current instanceof z.ZodNumber;
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

  it('gives every number a range in the schema, and the reference states both ends of it', () => {
    const allowed = allowedColumn();
    for (const [key, schema] of leafSchemas(configSchema)) {
      if (!isNumber(schema)) continue;
      const range = rangeOf(schema);
      expect(range, `${key} has no range`).toBeDefined();
      const cell = allowed.get(key) ?? '';
      expect(cell, `docs/CONFIGURATION.md: the allowed column of ${key}`).toContain(String(range?.min));
      expect(cell, `docs/CONFIGURATION.md: the allowed column of ${key}`).toContain(String(range?.max));
    }
  });
});
