import type { RateLimit } from '@portfolio/contracts';

/** A token bucket's state: `tokens` as of `atMs` (refilled lazily, never above burst). */
export interface BucketState {
  readonly tokens: number;
  readonly atMs: number;
}

export interface Take {
  readonly state: BucketState;
  /** Tokens handed out: between 0 and the number asked for. */
  readonly granted: number;
  /** When nothing was granted: how long until one token is there. */
  readonly retryAfterMs: number;
}

/**
 * Takes up to `want` whole tokens from a bucket that refills at
 * `requests_per_second` up to `burst` (a new bucket starts full). Pure: the caller
 * keeps the state. A clock that went backwards refills nothing.
 */
export function takeTokens(
  state: BucketState | null,
  limit: RateLimit,
  want: number,
  nowMs: number,
): Take {
  const elapsedS = state ? Math.max(0, nowMs - state.atMs) / 1000 : 0;
  const available = state
    ? Math.min(limit.burst, state.tokens + elapsedS * limit.requests_per_second)
    : limit.burst;
  const granted = Math.max(0, Math.min(want, Math.floor(available)));
  const left = available - granted;
  return {
    state: { tokens: left, atMs: Math.max(nowMs, state?.atMs ?? nowMs) },
    granted,
    retryAfterMs:
      granted > 0
        ? 0
        : Math.ceil(((1 - left) / limit.requests_per_second) * 1000),
  };
}
