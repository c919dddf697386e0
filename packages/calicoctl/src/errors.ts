/** Print one line on stderr for any failure: the field or resource and the reason. */
export function reportError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`Error: ${msg}\n`);
}
