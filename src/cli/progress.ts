import cliProgress from 'cli-progress';
import type { JobProgress } from '../workload/fleet-job.js';
import { percent } from '../format/table.js';

export interface ProgressView {
  update(progress: JobProgress): void;
  stop(): void;
}

/**
 * A progress bar on standard error (standard output stays for the summary): tasks done, failures
 * and the hit rate so far. Off when standard error is not a terminal or the user asked for quiet.
 */
export function progressBar(label: string, total: number, enabled: boolean): ProgressView {
  if (!enabled || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {value}/{total} tasks | hit rate {hitRate} | failed {failed} | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { hitRate: '-', failed: 0 });
  return {
    update(progress) {
      bar.update(progress.done, { hitRate: progress.lookups === 0 ? '-' : percent(progress.hits / progress.lookups), failed: progress.failed });
    },
    stop() {
      bar.stop();
    },
  };
}

export interface VariantProgress {
  onVariant(name: string): void;
  onProgress(progress: JobProgress): void;
  stop(): void;
}

/**
 * Progress of a benchmark that runs one workload after another: a bar per variant, made when the
 * variant reports its first task (that is when its size is known). Without a terminal, a line per
 * variant says what is running.
 */
export function variantProgress(enabled: boolean): VariantProgress {
  const bars = enabled && process.stderr.isTTY;
  let label = '';
  let bar: ProgressView | null = null;
  return {
    onVariant(name) {
      bar?.stop();
      bar = null;
      label = name;
      if (!bars) process.stderr.write(`running ${name}…\n`);
    },
    onProgress(progress) {
      bar ??= progressBar(label, progress.total, bars);
      bar.update(progress);
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
