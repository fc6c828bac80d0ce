import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';

import { PortfolioError, RateLimit } from '@portfolio/contracts';

import type { Principal } from '../auth/scopes';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { RateLimitStore } from './rate-limit-store';

export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');

/** Tokens a gateway takes from the shared bucket at once: at most a twentieth of the burst. */
function leaseSize(limit: RateLimit): number {
  return Math.max(1, Math.floor(limit.burst / 20));
}

/** Leased tokens unused this long go back unused (they would stretch the limit later). */
const LEASE_MAX_AGE_MS = 1000;

interface Lease {
  tokens: number;
  leasedAtMs: number;
  /** Until then the shared bucket is known empty: refused without asking the store. */
  emptyUntilMs: number;
  /** A take from the store in progress: requests arriving meanwhile wait for it. */
  refill: Promise<void> | null;
}

/**
 * Per-key token buckets (the key's own `rate_limit`, else `gateway.rate_limit`; none for
 * the bootstrap key or with auth off). Tokens come from the shared store in leases of up
 * to a twentieth of the burst, so a busy key costs the store one round trip per lease,
 * not per request; what a gateway leased and has not used yet is the limit's slack
 * (at most one lease per gateway). A request without a token gets 429 RATE_LIMITED
 * with Retry-After. A store that fails lets the request in (logged): a limit is not
 * worth an outage.
 */
@Injectable()
export class RateLimiter implements OnModuleDestroy {
  private readonly logger = new Logger('RateLimits');
  private readonly leases = new Map<string, Lease>();
  private readonly fallback: RateLimit | null;

  constructor(
    @Inject(GATEWAY_SETTINGS) settings: GatewaySettings,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore,
  ) {
    this.fallback = settings.defaultRateLimit ?? null;
  }

  async onModuleDestroy(): Promise<void> {
    await this.store.close();
  }

  async admit(principal: Principal, nowMs = Date.now()): Promise<void> {
    if (principal.keyId === null) return;
    const limit = principal.rateLimit ?? this.fallback;
    if (!limit) return;
    const lease = this.leases.get(principal.keyId) ?? {
      tokens: 0,
      leasedAtMs: 0,
      emptyUntilMs: 0,
      refill: null,
    };
    this.leases.set(principal.keyId, lease);
    if (nowMs - lease.leasedAtMs > LEASE_MAX_AGE_MS) lease.tokens = 0;
    for (;;) {
      if (lease.tokens >= 1) {
        lease.tokens--;
        return;
      }
      if (lease.refill) {
        await lease.refill;
        continue;
      }
      if (nowMs < lease.emptyUntilMs)
        throw this.limited(principal, limit, lease.emptyUntilMs - nowMs);
      let retryAfterMs = 0;
      lease.refill = this.store
        .take(principal.keyId, limit, leaseSize(limit), nowMs)
        .then(
          (taken) => {
            lease.tokens += taken.granted;
            lease.leasedAtMs = nowMs;
            retryAfterMs = taken.retryAfterMs;
            if (taken.granted === 0) lease.emptyUntilMs = nowMs + retryAfterMs;
          },
          (e: unknown) => {
            this.logger.warn(
              `rate limit store failed, letting the request in: ${e instanceof Error ? e.message : String(e)}`,
            );
            lease.tokens += 1;
          },
        )
        .finally(() => (lease.refill = null));
      await lease.refill;
      if (lease.tokens < 1) throw this.limited(principal, limit, retryAfterMs);
    }
  }

  private limited(
    principal: Principal,
    limit: RateLimit,
    retryAfterMs: number,
  ): PortfolioError {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new PortfolioError(
      'RATE_LIMITED',
      `the API key "${principal.name}" is over its rate limit of ${limit.requests_per_second} requests a second (bursts of ${limit.burst}); retry after ${seconds} s`,
      { retry_after_seconds: seconds, ...limit },
    );
  }
}
