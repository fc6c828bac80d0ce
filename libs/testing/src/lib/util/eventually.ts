/**
 * Polls `probe` until it gives something other than null (or undefined) and returns
 * that; a probe that throws counts as "not yet". Fails naming `what` and the last error.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | null | undefined | Promise<T | null | undefined>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} did not happen within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 20));
  }
}
