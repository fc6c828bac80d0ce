import { groupUsage, placeModel } from './placement';
import { context, MiB, resident, runtime, steady } from './policy.testing';

const NOW = 10 * 3_600_000;
const facts = {
  'hot@1': { usage: steady(10, NOW), loadMs: 1000 },
  'warm@1': { usage: steady(1, NOW), loadMs: 1000 },
  'cold@1': { usage: steady(0.01, NOW), loadMs: 1000 },
};
const ctx = context(facts, NOW);

describe(placeModel.name, () => {
  it('prefers a runtime with room to one that must evict, and among those the one with most free memory', () => {
    const d = placeModel(
      [
        runtime('a', 100 * MiB, [resident('cold@1', 90 * MiB)]),
        runtime('b', 100 * MiB, [resident('warm@1', 50 * MiB)]),
        runtime('c', 100 * MiB, [resident('hot@1', 30 * MiB)]),
      ],
      { key: 'new@1', bytes: 40 * MiB },
      ctx,
    );
    expect(d).toEqual({ kind: 'place', nodeId: 'c', victims: [] });
  });

  it('spreads loads: of two runtimes with room, the one with fewer loads in progress', () => {
    const d = placeModel(
      [
        runtime('a', 100 * MiB, [], { loadsInFlight: 2 }),
        runtime('b', 100 * MiB, [resident('cold@1', 10 * MiB)]),
      ],
      { key: 'new@1', bytes: 40 * MiB },
      ctx,
    );
    expect(d.kind === 'place' && d.nodeId).toBe('b');
  });

  it('evicts where the least value is lost', () => {
    const d = placeModel(
      [
        runtime('a', 100 * MiB, [resident('hot@1', 80 * MiB)]),
        runtime('b', 100 * MiB, [resident('cold@1', 80 * MiB)]),
      ],
      { key: 'new@1', bytes: 50 * MiB },
      ctx,
    );
    expect(d.kind === 'place' && d.nodeId).toBe('b');
    expect(
      d.kind === 'place' &&
        d.victims.map((v) => [v.nodeId, v.model.key, v.reason]),
    ).toEqual([['b', 'cold@1', 'capacity']]);
  });

  it('never puts a second copy where the model already is, nor on an excluded runtime', () => {
    const runtimes = [
      runtime('a', 100 * MiB, [resident('new@1', 10 * MiB)]),
      runtime('b', 100 * MiB, [resident('cold@1', 95 * MiB)]),
      runtime('c', 100 * MiB, []),
    ];
    const d = placeModel(
      runtimes,
      { key: 'new@1', bytes: 10 * MiB, exclude: ['c'] },
      ctx,
    );
    expect(d.kind === 'place' && d.nodeId).toBe('b');
    expect(
      placeModel(runtimes.slice(0, 1), { key: 'new@1', bytes: 1 }, ctx),
    ).toEqual({ kind: 'no-runtime' });
  });

  it('refuses when nothing can make room, naming what holds the memory', () => {
    const d = placeModel(
      [
        runtime('a', 100 * MiB, [
          resident('hot@1', 60 * MiB, { pinned: true }),
          resident('warm@1', 30 * MiB, { inFlight: 1 }),
        ]),
      ],
      { key: 'new@1', bytes: 50 * MiB },
      ctx,
    );
    expect(d.kind).toBe('no-room');
    if (d.kind !== 'no-room') return;
    expect(d.largestCapacityBytes).toBe(100 * MiB);
    expect(d.runtimes).toHaveLength(1);
    expect(d.runtimes[0].freeBytes).toBe(10 * MiB);
    expect(d.runtimes[0].held.pinned.map((m) => m.key)).toEqual(['hot@1']);
    expect(d.runtimes[0].held.in_use.map((m) => m.key)).toEqual(['warm@1']);
  });

  it('counts loads and unloads in progress as used memory (usedBytes), so one load cannot start an eviction cascade', () => {
    const r = runtime('a', 100 * MiB, [
      resident('warm@1', 40 * MiB),
      resident('gone@1', 40 * MiB, { state: 'unloading' }),
    ]);
    const d = placeModel([r], { key: 'new@1', bytes: 30 * MiB }, ctx);
    // 20 MiB free; only warm may go (gone@1 is already on its way out and still counts).
    expect(d.kind === 'place' && d.victims.map((v) => v.model.key)).toEqual([
      'warm@1',
    ]);
  });

  it('is deterministic: equal runtimes go by node id', () => {
    const d = placeModel(
      [runtime('b', 100 * MiB, []), runtime('a', 100 * MiB, [])],
      { key: 'new@1', bytes: 1 },
      ctx,
    );
    expect(d.kind === 'place' && d.nodeId).toBe('a');
  });

  describe('quotas', () => {
    const team = (key: string, bytes: number, group: string, more = {}) =>
      resident(key, bytes, { group, ...more });

    it('makes room inside the group first, anywhere in the cluster, leaving other tenants alone', () => {
      const runtimes = [
        runtime('a', 100 * MiB, [
          team('cold@1', 30 * MiB, 'red'),
          team('hot@1', 30 * MiB, 'blue'),
        ]),
        runtime('b', 100 * MiB, [team('warm@1', 30 * MiB, 'red')]),
      ];
      const d = placeModel(
        runtimes,
        {
          key: 'new@1',
          bytes: 20 * MiB,
          quota: { group: 'red', limitBytes: 70 * MiB },
        },
        ctx,
      );
      expect(d.kind).toBe('place');
      if (d.kind !== 'place') return;
      expect(d.victims.map((v) => [v.nodeId, v.model.key, v.reason])).toEqual([
        ['a', 'cold@1', 'quota'],
      ]);
      // a's room counts what the quota frees there: 70 MiB, as on b; ties go by node id.
      expect(d.nodeId).toBe('a');
    });

    it('refuses when the group cannot free enough of its own memory', () => {
      const d = placeModel(
        [
          runtime('a', 1000 * MiB, [
            team('warm@1', 60 * MiB, 'red', { pinned: true }),
          ]),
        ],
        {
          key: 'new@1',
          bytes: 20 * MiB,
          quota: { group: 'red', limitBytes: 70 * MiB },
        },
        ctx,
      );
      expect(d).toEqual({
        kind: 'over-quota',
        group: 'red',
        limitBytes: 70 * MiB,
        groupUsedBytes: 60 * MiB,
        freeableBytes: 0,
      });
    });

    it('adds up each group across runtimes', () => {
      expect(
        groupUsage([
          runtime('a', 1, [team('x@1', 5, 'red'), resident('y@1', 7)]),
          runtime('b', 1, [team('z@1', 11, 'red'), team('w@1', 3, 'blue')]),
        ]),
      ).toEqual(
        new Map([
          ['red', 16],
          ['blue', 3],
        ]),
      );
    });
  });
});
