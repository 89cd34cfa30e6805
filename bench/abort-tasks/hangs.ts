import { defineTask } from '../../src/worker/task-context.js';

/** Awaits a promise that never settles and ignores its abort signal. */
export default defineTask(async () => {
  await new Promise(() => {});
});
