import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * The layers of src/, lowest first. A module may import only from its own layer or below, so a
 * change low down never has to know about what is built on it, and a new import that would
 * reach upwards fails here with the two modules named. The most specific entry wins.
 */
const LAYERS: ReadonlyArray<{ layer: number; modules: readonly string[]; why: string }> = [
  {
    layer: 0,
    modules: ['task-errors.ts', 'module-paths.ts', 'telemetry/logger.ts', 'config/postgres-url.ts', 'format/', 'types/', 'telegram/live/session-errors.ts', 'telegram/simulated/transport.ts'],
    why: 'leaves: errors, paths, logging, formatting, and the Telegram transport seam, which every layer may use',
  },
  { layer: 1, modules: ['cache/'], why: 'the entity cache and its durable stores know nothing of config files or threads' },
  { layer: 2, modules: ['config/'], why: 'the config schema uses the cache’s vocabulary (scopes, policies, store drivers)' },
  { layer: 3, modules: ['cache/registry.ts'], why: 'the registry builds caches from a config section' },
  { layer: 4, modules: ['channel/'], why: 'the protocol between the threads, over the cache' },
  { layer: 5, modules: ['telegram/'], why: 'the cached client and the simulated, loopback and live Telegram backends' },
  { layer: 6, modules: ['telemetry/'], why: 'the reporter, metrics and Prometheus read the cache and the channel’s errors' },
  { layer: 7, modules: ['worker/'], why: 'the worker side of a task' },
  { layer: 8, modules: ['runtime/'], why: 'the main thread: scheduler, pool, FleetRuntime' },
  { layer: 9, modules: ['fleet/', 'workload/', 'benchmark/'], why: 'built on FleetRuntime: hosts, the main job, the hit-rate benchmark' },
  { layer: 10, modules: ['cli/', 'index.ts', 'metrics.ts'], why: 'entry points' },
];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function layerOf(module: string): number | undefined {
  let best: { layer: number; length: number } | undefined;
  for (const { layer, modules } of LAYERS) {
    for (const entry of modules) {
      const matches = entry.endsWith('/') ? module.startsWith(entry) : module === entry;
      if (matches && (best === undefined || entry.length > best.length)) best = { layer, length: entry.length };
    }
  }
  return best?.layer;
}

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import, re-export and dynamic import of src/, type-only ones marked. */
function importsOfSrc(): Import[] {
  const statement = /(?:^|\n)\s*(import|export)(\s+type)?\b[^;]*?\bfrom\s+'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g;
  return sourceFiles(SRC).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const from = relative(SRC, file);
    return [...text.matchAll(statement)].map((match) => {
      const target = (match[3] ?? match[4]) as string;
      const to = relative(SRC, resolve(dirname(file), target)).replace(/\.js$/, '.ts');
      return { from, to, typeOnly: match[2] !== undefined };
    });
  });
}

describe('the layers of src/', () => {
  const imports = importsOfSrc();

  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(200);
    expect(imports).toContainEqual({ from: 'runtime/fleet-runtime.ts', to: 'cache/registry.ts', typeOnly: false });
  });

  it('places every module in a layer', () => {
    const modules = new Set(sourceFiles(SRC).map((file) => relative(SRC, file)));
    expect([...modules].filter((module) => layerOf(module) === undefined)).toEqual([]);
  });

  it('has no import from a lower layer to a higher one, type-only imports included', () => {
    const upwards = imports
      .filter(({ from, to }) => (layerOf(to) as number) > (layerOf(from) as number))
      .map(({ from, to }) => `${from} (layer ${layerOf(from)}) imports ${to} (layer ${layerOf(to)})`);
    expect(upwards).toEqual([]);
  });

  it('has no cycle of modules through imports that load code', () => {
    const edges = new Map<string, string[]>();
    for (const { from, to, typeOnly } of imports) if (!typeOnly) edges.set(from, [...(edges.get(from) ?? []), to]);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (module: string, path: string[]): void => {
      state.set(module, 'open');
      for (const next of edges.get(module) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next, [...path, next]);
      }
      state.set(module, 'done');
    };
    for (const module of edges.keys()) if (!state.has(module)) visit(module, [module]);
    expect(cycles).toEqual([]);
  });
});
