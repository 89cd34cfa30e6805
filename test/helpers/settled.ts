/**
 * The outcome of a promise, with its rejection handled from the moment it is created: a test that
 * checks several tasks' outcomes after a shutdown must not leave early rejections unhandled.
 */
export function settled<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return Promise.allSettled([promise]).then(([result]) => result as PromiseSettledResult<T>);
}
