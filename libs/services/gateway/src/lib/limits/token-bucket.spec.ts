import { takeTokens } from './token-bucket';

const limit = { requests_per_second: 2, burst: 4 };

describe(takeTokens.name, () => {
  it('starts full and hands out at most what it holds', () => {
    const first = takeTokens(null, limit, 3, 1000);
    const second = takeTokens(first.state, limit, 3, 1000);

    expect([first.granted, second.granted]).toEqual([3, 1]);
    expect(second.state.tokens).toBe(0);
  });

  it('refills at the rate, never above the burst', () => {
    const empty = takeTokens(null, limit, 4, 0).state;

    expect(takeTokens(empty, limit, 10, 1000).granted).toBe(2);
    expect(takeTokens(empty, limit, 10, 60_000).granted).toBe(4);
  });

  it('says when the next token comes once empty', () => {
    const empty = takeTokens(null, limit, 4, 0).state;

    const refused = takeTokens(empty, limit, 1, 250);

    expect(refused.granted).toBe(0);
    // Half a token after 250 ms at 2 a second: the other half takes 250 ms more.
    expect(refused.retryAfterMs).toBe(250);
  });

  it('refills nothing when the clock goes backwards', () => {
    const empty = takeTokens(null, limit, 4, 10_000).state;

    const back = takeTokens(empty, limit, 1, 5_000);

    expect(back.granted).toBe(0);
    expect(back.state.atMs).toBe(10_000);
  });
});
