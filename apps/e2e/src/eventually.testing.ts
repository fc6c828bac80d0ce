/**
 * Polls `probe` every 250 ms until it gives something other than null, and returns
 * that; a probe that throws counts as "not yet". Fails naming `what` and the last error.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | null>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${what} did not happen within ${timeoutMs} ms (${String(last)})`,
  );
}
