/**
 * After a failure, run the steps that undo what was done (in the order
 * given), then rethrow the original error. A step that fails too does not
 * stop the others; its message is appended to the error, so the caller
 * learns that something may have been left behind.
 */
export async function undoAndRethrow(err: unknown, steps: (() => Promise<unknown>)[]): Promise<never> {
  const failed: string[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      failed.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (failed.length > 0 && err instanceof Error) err.message += ` (undoing it also failed: ${failed.join('; ')})`;
  throw err;
}
