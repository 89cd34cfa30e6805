import { threadId } from 'node:worker_threads';
import { defineTask } from '../../src/worker/task-context.js';

export default defineTask(async () => threadId);
