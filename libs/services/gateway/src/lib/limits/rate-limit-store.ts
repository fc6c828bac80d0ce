import { connect, KV, NatsConnection } from 'nats';

import type { RateLimit } from '@portfolio/contracts';

import { BucketState, Take, takeTokens } from './token-bucket';

/**
 * Where the token buckets live. Gateways that share a store share their limits: a key
 * allowed 10 requests a second gets 10 in all, however many gateways it calls.
 */
export interface RateLimitStore {
  /** Takes up to `want` tokens from the bucket `id`. */
  take(
    id: string,
    limit: RateLimit,
    want: number,
    nowMs: number,
  ): Promise<Take>;
  close(): Promise<void>;
}

/** One process's buckets (the standalone app: one gateway). */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly buckets = new Map<string, BucketState>();

  async take(
    id: string,
    limit: RateLimit,
    want: number,
    nowMs: number,
  ): Promise<Take> {
    const taken = takeTokens(this.buckets.get(id) ?? null, limit, want, nowMs);
    this.buckets.set(id, taken.state);
    return taken;
  }

  async close(): Promise<void> {
    this.buckets.clear();
  }
}

/** Conflicting writers retry this often before the take fails (and the request is let in). */
const MAX_CAS_ATTEMPTS = 16;

/**
 * A random pause before retrying a write that lost a race: two gateways taking from one
 * bucket at once otherwise keep reading and writing in step, each losing every other
 * time (without it, 8 attempts were now and then all lost in the two-gateway test).
 */
function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(20, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Buckets in a NATS JetStream key-value bucket, shared by every gateway on the same
 * NATS and subject prefix. Each take is a read and a compare-and-set write on the key's
 * revision, retried when another gateway wrote in between, so no token is handed out
 * twice. Its own connection: the bus's is the messaging library's.
 */
export class NatsKvRateLimitStore implements RateLimitStore {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
  ) {}

  static async connect(
    url: string,
    subjectPrefix: string,
  ): Promise<NatsKvRateLimitStore> {
    const nc = await connect({
      servers: url,
      name: 'portfolio-gateway-rate-limits',
      maxReconnectAttempts: -1,
    });
    try {
      const kv = await nc.jetstream().views.kv(bucketName(subjectPrefix), {
        history: 1,
        // A bucket untouched for a day is full again anyway.
        ttl: 24 * 3600 * 1000,
      });
      return new NatsKvRateLimitStore(nc, kv);
    } catch (e) {
      await nc.close();
      throw e;
    }
  }

  async take(
    id: string,
    limit: RateLimit,
    want: number,
    nowMs: number,
  ): Promise<Take> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(id);
      const current =
        entry && entry.operation === 'PUT' && entry.length > 0
          ? entry.json<BucketState>()
          : null;
      const taken = takeTokens(current, limit, want, nowMs);
      const value = JSON.stringify(taken.state);
      try {
        if (entry) await this.kv.update(id, value, entry.revision);
        else await this.kv.create(id, value);
        return taken;
      } catch (e) {
        if (!isRevisionConflict(e)) throw e;
        await backoff(attempt);
      }
    }
    throw new Error(
      `rate limit bucket ${id} kept changing under ${MAX_CAS_ATTEMPTS} attempts`,
    );
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }

  /** Deletes the bucket and everything in it (tests: a run's bucket must not outlive it). */
  async destroy(): Promise<void> {
    await this.kv.destroy();
  }
}

/** KV bucket names allow letters, digits, `-` and `_`. */
export function bucketName(subjectPrefix: string): string {
  return `portfolio_rate_limits_${subjectPrefix.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function isRevisionConflict(e: unknown): boolean {
  const text = e instanceof Error ? e.message : String(e);
  // JetStream's "wrong last sequence" (10071), or create's "key exists".
  return /wrong last sequence|10071|key exists|already exists/i.test(text);
}
