import { chooseGuardVictims, GuardCandidate } from './rss-guard';

const MiB = 1024 * 1024;
const model = (
  key: string,
  lastUsedMs: number,
  over: Partial<GuardCandidate> = {},
): GuardCandidate => ({
  key,
  copy: null,
  bytes: 100 * MiB,
  pinned: false,
  lastUsedMs,
  ...over,
});

describe(chooseGuardVictims.name, () => {
  const candidates = [
    model('recent', 3_000),
    model('pinned-old', 1_000, { pinned: true }),
    model('old', 2_000),
    model('hot@copy', 9_000, { copy: 7, bytes: 50 * MiB }),
  ];

  it('takes extra copies first, then models least recently used first, pinned ones last', () => {
    expect(
      chooseGuardVictims(candidates, 1_000 * MiB).map((c) => c.key),
    ).toEqual(['hot@copy', 'old', 'recent', 'pinned-old']);
  });

  it('stops as soon as the excess is covered', () => {
    expect(chooseGuardVictims(candidates, 50 * MiB).map((c) => c.key)).toEqual([
      'hot@copy',
    ]);
    expect(chooseGuardVictims(candidates, 51 * MiB).map((c) => c.key)).toEqual([
      'hot@copy',
      'old',
    ]);
  });

  it('takes nothing when nothing is over, and all it has when everything is not enough', () => {
    expect(chooseGuardVictims(candidates, 0)).toEqual([]);
    expect(chooseGuardVictims(candidates.slice(0, 1), 500 * MiB)).toHaveLength(
      1,
    );
  });
});
