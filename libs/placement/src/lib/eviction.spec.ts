import {
  chooseVictims,
  rankForEviction,
  reloadCostMs,
  retentionValue,
} from './eviction';
import { DEFAULT_POLICY_PARAMS } from './policy.types';
import { context, MiB, resident, steady } from './policy.testing';

const NOW = 10 * 3_600_000;

describe(chooseVictims.name, () => {
  const facts = {
    'hot@1': { usage: steady(10, NOW), loadMs: 1000 },
    'warm@1': { usage: steady(1, NOW), loadMs: 1000 },
    'cold@1': { usage: steady(0.01, NOW), loadMs: 1000 },
  };
  const ctx = context(facts, NOW);

  it('unloads the least valuable model first: rate x reload cost per byte', () => {
    const models = [
      resident('hot@1', 100 * MiB),
      resident('warm@1', 100 * MiB),
      resident('cold@1', 100 * MiB),
    ];
    const plan = chooseVictims({ models }, 150 * MiB, ctx);
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual([
      'cold@1',
      'warm@1',
    ]);
  });

  it('weighs size: a large model asked for as often as a small one is worth less per byte', () => {
    const f = {
      'small@1': { usage: steady(1, NOW), loadMs: 500 },
      'large@1': { usage: steady(1, NOW), loadMs: 500 },
    };
    const plan = chooseVictims(
      {
        models: [resident('small@1', 10 * MiB), resident('large@1', 500 * MiB)],
      },
      5 * MiB,
      context(f, NOW),
    );
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual(['large@1']);
  });

  it('weighs reload cost: of two equally used models of one size, the one that reloads fast goes', () => {
    const f = {
      'slow@1': { usage: steady(1, NOW), loadMs: 9000 },
      'fast@1': { usage: steady(1, NOW), loadMs: 300 },
    };
    const plan = chooseVictims(
      {
        models: [resident('slow@1', 100 * MiB), resident('fast@1', 100 * MiB)],
      },
      1,
      context(f, NOW),
    );
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual(['fast@1']);
  });

  it('spares a victim that the others made unnecessary', () => {
    // cold (10 MiB) is taken first, then warm (200 MiB) frees enough on its own.
    const plan = chooseVictims(
      {
        models: [
          resident('cold@1', 10 * MiB),
          resident('warm@1', 200 * MiB),
          resident('hot@1', 300 * MiB),
        ],
      },
      150 * MiB,
      ctx,
    );
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual(['warm@1']);
    expect(plan.ok && plan.freedBytes).toBe(200 * MiB);
  });

  it('never takes a pinned model, one in use, or one loading or unloading, and says who holds what', () => {
    const models = [
      resident('cold@1', 100 * MiB, { pinned: true }),
      resident('warm@1', 100 * MiB, { inFlight: 2 }),
      resident('x@1', 100 * MiB, { state: 'loading' }),
      resident('hot@1', 100 * MiB),
    ];
    const refused = chooseVictims({ models }, 150 * MiB, ctx);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.freeableBytes).toBe(100 * MiB);
    expect(refused.held.pinned.map((m) => m.key)).toEqual(['cold@1']);
    expect(refused.held.in_use.map((m) => m.key)).toEqual(['warm@1']);
    expect(refused.held.busy.map((m) => m.key)).toEqual(['x@1']);
    const allowed = chooseVictims({ models }, 50 * MiB, ctx);
    expect(allowed.ok && allowed.victims.map((v) => v.key)).toEqual(['hot@1']);
  });

  it('never takes a model it is told to spare', () => {
    const plan = chooseVictims(
      { models: [resident('cold@1', 100 * MiB), resident('hot@1', 100 * MiB)] },
      50 * MiB,
      ctx,
      new Set(['cold@1']),
    );
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual(['hot@1']);
  });

  it('breaks ties by least recent use, then by key', () => {
    const models = [
      resident('b@1', 10, { lastUsedMs: 5 }),
      resident('a@1', 10, { lastUsedMs: 5 }),
      resident('c@1', 10, { lastUsedMs: 1 }),
    ];
    const plan = chooseVictims({ models }, 30, context({}, NOW));
    expect(plan.ok && plan.victims.map((v) => v.key)).toEqual([
      'c@1',
      'a@1',
      'b@1',
    ]);
  });

  it('needs nothing when nothing is needed', () => {
    expect(chooseVictims({ models: [resident('a@1', 1)] }, 0, ctx)).toEqual({
      ok: true,
      victims: [],
      freedBytes: 0,
      lostValue: 0,
    });
  });
});

describe(rankForEviction.name, () => {
  it('lists the evictable models, least valuable first, and decides as chooseVictims does without it', () => {
    const facts = {
      'hot@1': { usage: steady(10, NOW), loadMs: 1000 },
      'warm@1': { usage: steady(1, NOW), loadMs: 1000 },
      'cold@1': { usage: steady(0.01, NOW), loadMs: 1000 },
    };
    const ctx = context(facts, NOW);
    const runtime = {
      models: [
        resident('hot@1', 100 * MiB),
        resident('pinned@1', 100 * MiB, { pinned: true }),
        resident('warm@1', 100 * MiB),
        resident('cold@1', 100 * MiB),
      ],
    };
    const ranked = rankForEviction(runtime, ctx);
    expect(ranked.map((r) => r.model.key)).toEqual([
      'cold@1',
      'warm@1',
      'hot@1',
    ]);
    for (const need of [1, 150 * MiB, 250 * MiB, 400 * MiB])
      expect(chooseVictims(runtime, need, ctx, undefined, ranked)).toEqual(
        chooseVictims(runtime, need, ctx),
      );
  });
});

describe(reloadCostMs.name, () => {
  it('is the measured load time once there is one, else a fixed part plus the bytes at the assumed throughput', () => {
    expect(reloadCostMs(1e9, { loadMs: 1234 }, DEFAULT_POLICY_PARAMS)).toBe(
      1234,
    );
    expect(reloadCostMs(1e9, undefined, DEFAULT_POLICY_PARAMS)).toBe(
      DEFAULT_POLICY_PARAMS.unmeasuredLoadFixedMs +
        1e9 / DEFAULT_POLICY_PARAMS.unmeasuredLoadBytesPerMs,
    );
  });
});

describe(retentionValue.name, () => {
  it('is zero for a model never asked for', () => {
    expect(retentionValue(resident('never@1', MiB), context({}, NOW))).toBe(0);
  });
});
