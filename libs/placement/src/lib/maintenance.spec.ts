import { planMaintenance } from './maintenance';
import { DEFAULT_POLICY_PARAMS, RuntimeState } from './policy.types';
import { context, MiB, resident, runtime, steady } from './policy.testing';

const NOW = 10 * 3_600_000;
const MIN = 60_000;
const facts = {
  'hot@1': { usage: steady(10, NOW), loadMs: 1000 },
  'warm@1': { usage: steady(1, NOW), loadMs: 1000 },
  'cold@1': { usage: steady(0.01, NOW), loadMs: 1000 },
};
const ctx = context(facts, NOW);
const none = () => undefined;
const plan = (
  runtimes: RuntimeState[],
  more: Partial<Parameters<typeof planMaintenance>[0]> = {},
) =>
  planMaintenance(
    { runtimes, preload: [], candidates: [], utilization: none, ...more },
    ctx,
  );

describe(planMaintenance.name, () => {
  describe('TTL', () => {
    it('unloads a model idle longer than its ttl, counting from its last request or else its load', () => {
      const actions = plan([
        runtime('a', 100 * MiB, [
          resident('idle@1', 10, { ttlMs: 5 * MIN, lastUsedMs: NOW - 6 * MIN }),
          resident('fresh@1', 10, {
            ttlMs: 5 * MIN,
            lastUsedMs: NOW - 4 * MIN,
          }),
          resident('never@1', 10, {
            ttlMs: 5 * MIN,
            lastUsedMs: null,
            loadedAtMs: NOW - 6 * MIN,
          }),
          resident('forever@1', 10, { ttlMs: null, lastUsedMs: 0 }),
        ]),
      ]);
      expect(actions).toEqual([
        { kind: 'unload', nodeId: 'a', key: 'idle@1', reason: 'ttl' },
        { kind: 'unload', nodeId: 'a', key: 'never@1', reason: 'ttl' },
      ]);
    });

    it('never unloads a pinned, preloaded or busy model for its ttl', () => {
      const idle = { ttlMs: MIN, lastUsedMs: 0 };
      expect(
        plan([
          runtime('a', 100 * MiB, [
            resident('p@1', 10, { ...idle, pinned: true }),
            resident('q@1', 10, { ...idle, preload: true }),
            resident('r@1', 10, { ...idle, inFlight: 1 }),
          ]),
        ]),
      ).toEqual(
        [{ kind: 'load', key: 'q@1', bytes: 10, reason: 'preload' }].filter(
          () => false,
        ),
      );
    });
  });

  describe('soft limit', () => {
    it('unloads the least valuable models until the runtime is under its soft limit', () => {
      const actions = plan([
        runtime(
          'a',
          100 * MiB,
          [
            resident('hot@1', 40 * MiB),
            resident('warm@1', 30 * MiB),
            resident('cold@1', 25 * MiB),
          ],
          { softLimitBytes: 80 * MiB },
        ),
      ]);
      expect(actions).toEqual([
        { kind: 'unload', nodeId: 'a', key: 'cold@1', reason: 'soft_limit' },
      ]);
    });

    it('spares models loaded or used within the residency window, and preloaded ones', () => {
      const actions = plan([
        runtime(
          'a',
          100 * MiB,
          [
            resident('cold@1', 40 * MiB, { loadedAtMs: NOW - 1000 }),
            resident('x@1', 20 * MiB, { lastUsedMs: NOW - 1000 }),
            resident('y@1', 20 * MiB, { preload: true }),
            resident('warm@1', 15 * MiB),
          ],
          { softLimitBytes: 50 * MiB },
        ),
      ]);
      expect(actions).toEqual([
        { kind: 'unload', nodeId: 'a', key: 'warm@1', reason: 'soft_limit' },
      ]);
    });

    it('counts what TTL already unloads', () => {
      const actions = plan([
        runtime(
          'a',
          100 * MiB,
          [
            resident('cold@1', 30 * MiB, { ttlMs: MIN, lastUsedMs: 0 }),
            resident('warm@1', 60 * MiB),
          ],
          { softLimitBytes: 80 * MiB },
        ),
      ]);
      expect(actions).toEqual([
        { kind: 'unload', nodeId: 'a', key: 'cold@1', reason: 'ttl' },
      ]);
    });
  });

  describe('copies', () => {
    it('adds a copy of a busy model on a runtime without one, evicting only models worth less', () => {
      const runtimes = [
        runtime('a', 100 * MiB, [resident('hot@1', 40 * MiB)], {
          softLimitBytes: 90 * MiB,
        }),
        runtime(
          'b',
          100 * MiB,
          [resident('warm@1', 50 * MiB), resident('cold@1', 30 * MiB)],
          {
            softLimitBytes: 90 * MiB,
          },
        ),
      ];
      const actions = plan(runtimes, {
        utilization: (k) => (k === 'hot@1' ? 0.95 : undefined),
      });
      expect(actions).toEqual([
        { kind: 'unload', nodeId: 'b', key: 'cold@1', reason: 'hot_copy' },
        {
          kind: 'load',
          nodeId: 'b',
          key: 'hot@1',
          bytes: 40 * MiB,
          reason: 'hot_copy',
        },
      ]);
    });

    it('adds no copy when only more valuable models could make room', () => {
      const runtimes = [
        runtime('a', 100 * MiB, [resident('warm@1', 40 * MiB)]),
        runtime('b', 100 * MiB, [resident('hot@1', 80 * MiB)]),
      ];
      expect(
        plan(runtimes, {
          utilization: (k) => (k === 'warm@1' ? 0.95 : undefined),
        }),
      ).toEqual([]);
    });

    it('stops at maxCopies', () => {
      const copies = Array.from(
        { length: DEFAULT_POLICY_PARAMS.copies.maxCopies },
        (_, i) => runtime(`r${i}`, 100 * MiB, [resident('hot@1', 10 * MiB)]),
      );
      const actions = plan([...copies, runtime('spare', 100 * MiB, [])], {
        utilization: () => 0.99 * DEFAULT_POLICY_PARAMS.copies.maxCopies,
      });
      expect(actions).toEqual([]);
    });

    it('scales a cold model back by one copy, from the fullest runtime, once the copy is old enough', () => {
      const old = { loadedAtMs: NOW - 10 * MIN };
      const runtimes = [
        runtime('a', 100 * MiB, [resident('warm@1', 10 * MiB, old)]),
        runtime('b', 100 * MiB, [
          resident('warm@1', 10 * MiB, old),
          resident('x@1', 70 * MiB),
        ]),
        runtime('c', 100 * MiB, [
          resident('warm@1', 10 * MiB, { loadedAtMs: NOW - 1000 }),
          resident('y@1', 75 * MiB),
        ]),
      ];
      expect(
        plan(runtimes, {
          utilization: (k) => (k === 'warm@1' ? 0.1 : undefined),
        }),
      ).toEqual([
        { kind: 'unload', nodeId: 'b', key: 'warm@1', reason: 'cold_copy' },
      ]);
    });
  });

  describe('preloading', () => {
    it('loads a preload model that is loaded nowhere, and only that one', () => {
      const actions = plan(
        [runtime('a', 100 * MiB, [resident('there@1', 10, { preload: true })])],
        {
          preload: [
            { key: 'there@1', bytes: 10 },
            { key: 'missing@1', bytes: 20 },
          ],
        },
      );
      expect(actions).toEqual([
        { kind: 'load', key: 'missing@1', bytes: 20, reason: 'preload' },
      ]);
    });

    it('predicts: loads the model expected soonest-and-most into room free below the soft limit, one a round', () => {
      const actions = plan(
        [
          runtime('a', 100 * MiB, [], { softLimitBytes: 90 * MiB }),
          runtime('b', 100 * MiB, [resident('x@1', 80 * MiB)]),
        ],
        {
          candidates: [
            { key: 'warm@1', bytes: 30 * MiB },
            { key: 'hot@1', bytes: 30 * MiB },
            { key: 'cold@1', bytes: 30 * MiB },
          ],
        },
      );
      expect(actions).toEqual([
        {
          kind: 'load',
          nodeId: 'a',
          key: 'hot@1',
          bytes: 30 * MiB,
          reason: 'predictive',
        },
      ]);
    });

    it('predicts nothing that would not fit below a soft limit, or that is not expected often enough', () => {
      const actions = plan(
        [
          runtime('a', 100 * MiB, [resident('x@1', 70 * MiB)], {
            softLimitBytes: 90 * MiB,
          }),
        ],
        {
          candidates: [
            { key: 'hot@1', bytes: 30 * MiB },
            { key: 'cold@1', bytes: 10 * MiB },
          ],
        },
      );
      // hot does not fit in 20 MiB; cold expects 0.01/s x 10 min = 6 requests >= 2... so it loads.
      expect(actions).toEqual([
        {
          kind: 'load',
          nodeId: 'a',
          key: 'cold@1',
          bytes: 10 * MiB,
          reason: 'predictive',
        },
      ]);
      const never = plan([runtime('a', 100 * MiB, [])], {
        candidates: [{ key: 'unknown@1', bytes: 1 }],
      });
      expect(never).toEqual([]);
    });
  });
});
