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
