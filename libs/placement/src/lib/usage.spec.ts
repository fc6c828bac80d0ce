import { DEFAULT_POLICY_PARAMS } from './policy.types';
import { steady } from './policy.testing';
import { recordRequests, requestRate } from './usage';

const params = { halfLivesMs: [60_000, 3_600_000] };
const HOUR = 3_600_000;

describe(requestRate.name, () => {
  it('recovers the rate of a steady stream', () => {
    const now = 10 * HOUR;
    const u = steady(5, now, 6 * 3600, DEFAULT_POLICY_PARAMS);
    expect(requestRate(u, now, DEFAULT_POLICY_PARAMS)).toBeCloseTo(5, 0);
  });

  it('is zero for a model never asked for', () => {
    expect(requestRate(undefined, 0, params)).toBe(0);
  });

  it('follows a burst at the speed of the short half-life and remembers it at the speed of the long one', () => {
    let u = recordRequests(undefined, 0, params, 600); // 600 requests in one report
    const justAfter = requestRate(u, 0, params);
    expect(justAfter).toBeCloseTo((600 * Math.LN2) / 60, 5);
    // One short half-life later, half of the burst is left in the short count...
    expect(requestRate(u, 60_000, params)).toBeCloseTo(
      (300 * Math.LN2) / 60,
      5,
    );
    // ...and after ten, the long count (which barely decayed) is what remains.
    expect(requestRate(u, 600_000, params)).toBeCloseTo(
      (600 * Math.pow(2, -600_000 / HOUR) * Math.LN2) / 3600,
      5,
    );
    u = recordRequests(u, HOUR, params);
    expect(u.requests).toBe(601);
    expect(u.lastUsedMs).toBe(HOUR);
  });

  it('does not move backwards when reports arrive out of order', () => {
    const u = recordRequests(
      recordRequests(undefined, 10_000, params),
      5_000,
      params,
    );
    expect(u.atMs).toBe(10_000);
    expect(u.lastUsedMs).toBe(10_000);
    expect(u.counts).toEqual([2, 2]);
  });
});
