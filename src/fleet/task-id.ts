import { createHash, randomUUID } from 'node:crypto';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The job id of a task. A caller's own id (any string) maps to the same UUID every time, so
 * submitting a task again with its id finds the first submission instead of queueing a second.
 */
export function taskUuid(account: string, taskId?: string): string {
  if (taskId === undefined) return randomUUID();
  if (UUID.test(taskId)) return taskId.toLowerCase();
  const hex = createHash('sha256').update(`${account}\u0000${taskId}`).digest('hex');
  // Shaped as a version 8 (custom) UUID, which is what PostgreSQL's uuid type and pg-boss accept.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}
