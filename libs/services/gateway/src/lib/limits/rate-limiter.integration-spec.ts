import { Logger } from '@nestjs/common';

import { testNatsUrl, uniqueSubjectPrefix } from '@portfolio/testing';

import { TEST_SETTINGS } from '../gateway.testing';
import { NatsKvRateLimitStore } from './rate-limit-store';
import { RateLimiter } from './rate-limiter.service';

/**
 * Two gateways (a RateLimiter each, on its own NATS connection) sharing one key's limit
 * through JetStream KV on a real NATS server.
 */
describe('rate limits shared by two gateways through NATS KV', () => {
  const prefix = uniqueSubjectPrefix('rl');
  const stores: NatsKvRateLimitStore[] = [];
  let gateways: RateLimiter[];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    for (let i = 0; i < 2; i++)
      stores.push(await NatsKvRateLimitStore.connect(testNatsUrl(), prefix));
    gateways = stores.map((s) => new RateLimiter(TEST_SETTINGS, s));
  });
  afterAll(async () => {
    await stores[0]?.destroy();
    for (const s of stores) await s.close();
  });

  const principal = (keyId: string, burst: number) => ({
    name: keyId,
    keyId,
    scopes: ['predict' as const],
    // A rate too slow to refill a token while the test runs: the burst is all there is.
    rateLimit: { requests_per_second: 0.001, burst },
  });

  async function admitted(
    keyId: string,
    burst: number,
    requests: number,
  ): Promise<{ ok: number; retryAfter: number[] }> {
    let ok = 0;
    const retryAfter: number[] = [];
    await Promise.all(
      Array.from({ length: requests }, async (_, i) => {
        try {
          await gateways[i % 2].admit(principal(keyId, burst));
          ok++;
        } catch (e) {
          retryAfter.push(
            (e as { details?: { retry_after_seconds?: number } }).details
              ?.retry_after_seconds ?? -1,
          );
        }
      }),
    );
    return { ok, retryAfter };
  }

  it('lets exactly the burst through, however the requests are spread over the gateways', async () => {
    const { ok, retryAfter } = await admitted('key-a', 10, 40);

    expect(ok).toBe(10);
    expect(retryAfter).toHaveLength(30);
    expect(retryAfter.every((s) => s >= 1)).toBe(true);
  });

  it('keeps each key to its own bucket', async () => {
    const a = await admitted('key-b', 3, 10);
    const b = await admitted('key-c', 5, 10);

    expect([a.ok, b.ok]).toEqual([3, 5]);
  });

  it('refuses at once while the bucket is known empty, without taking from it', async () => {
    await admitted('key-d', 2, 2);

    const again = await admitted('key-d', 2, 6);

    expect(again.ok).toBe(0);
  });
});
