import { defineTask } from '../src/worker/task-context.js';

/** Does nothing: the runtime's own per-task cost, as the benchmarks measure it. */
export default defineTask(async () => null);
