import {
  LoadedModelReport,
  LoadModelResponse,
  RuntimeHeartbeat,
} from '@portfolio/contracts';

import { ClusterView, key } from './cluster-view';

const TIMEOUT_MS = 300;
const LOST_RETENTION_MS = 5000;
const STARTED_AT = '2026-01-01T00:00:00.000Z';

function report(
  modelId: string,
  version: number,
  overrides: Partial<LoadedModelReport> = {},
): LoadedModelReport {
  return {
    model_id: modelId,
    version,
    state: 'loaded',
    memory_bytes: 100,
    loaded_at: STARTED_AT,
    last_used_at: null,
    requests: 0,
    errors: 0,
    in_flight: 0,
    busy_ms: 0,
    load_ms: 5,
    reason: null,
    ...overrides,
  };
}

function heartbeat(
  nodeId: string,
  overrides: Partial<RuntimeHeartbeat> = {},
): RuntimeHeartbeat {
  return {
    node_id: nodeId,
    started_at: STARTED_AT,
    seq: 1,
    state_version: 1,
    interval_ms: 100,
    capacity_bytes: 1000,
    soft_limit_bytes: 900,
    used_bytes: 0,
    base_bytes: 40,
    rss_bytes: 50,
    workers: 1,
    formats: ['onnx'],
    models: [],
    ...overrides,
  };
}

function loaded(
  modelId: string,
  version: number,
  stateVersion: number,
  memoryBytes = 200,
): LoadModelResponse {
  return {
    model_id: modelId,
    version,
    memory_bytes: memoryBytes,
    load_ms: 7,
    loaded_now: true,
    state_version: stateVersion,
  };
}

describe(ClusterView.name, () => {
  let sut: ClusterView;
  /** What placement sees of each runtime, in brief (no model records known: all count as pinned). */
  const candidates = () =>
    sut
      .runtimeStates(() => null)
      .map((r) => ({
        nodeId: r.nodeId,
        capacityBytes: r.capacityBytes,
        usedBytes: r.usedBytes,
        modelsLoaded: r.models.filter((m) => m.state === 'loaded').length,
      }));

  beforeEach(() => {
    sut = new ClusterView(TIMEOUT_MS, LOST_RETENTION_MS);
  });

  describe('heartbeats', () => {
    it('adds a runtime whose loaded models appear in routes(), sorted by model, version and node', () => {
      sut.applyHeartbeat(
        heartbeat('rt-b', {
          models: [report('zeta', 1), report('alpha', 2), report('alpha', 1)],
        }),
        0,
      );
      sut.applyHeartbeat(
        heartbeat('rt-a', { models: [report('alpha', 2)] }),
        0,
      );

      expect(sut.has('rt-a')).toBe(true);
      expect(sut.has('rt-b')).toBe(true);
      expect(sut.size).toBe(2);
      expect(sut.routes()).toEqual([
        { model_id: 'alpha', version: 1, nodes: ['rt-b'] },
        { model_id: 'alpha', version: 2, nodes: ['rt-a', 'rt-b'] },
        { model_id: 'zeta', version: 1, nodes: ['rt-b'] },
      ]);
    });

    it('lists only loaded models as routes', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', {
          models: [
            report('loading', 1, { state: 'loading' }),
            report('unloading', 1, { state: 'unloading' }),
            report('failed', 1, { state: 'failed', reason: 'bad graph' }),
            report('ready', 1),
          ],
        }),
        0,
      );

      expect(sut.routes()).toEqual([
        { model_id: 'ready', version: 1, nodes: ['rt-a'] },
      ]);
    });

    it('keeps a model a load reply recorded when an older heartbeat arrives afterwards, but refreshes liveness', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { state_version: 1 }), 0);
      sut.recordLoaded('rt-a', loaded('iris', 1, 2));

      const changed = sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 1, seq: 2, models: [] }),
        250,
      );

      expect(changed).toBe(false);
      expect(sut.nodesServing(key('iris', 1))).toEqual(['rt-a']);
      expect(sut.routes()).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-a'] },
      ]);
      // Seen at 250, so still alive at 400 although first seen at 0.
      expect(sut.expire(400)).toEqual([]);
      expect(sut.has('rt-a')).toBe(true);
    });

    it('replaces the model list with a newer heartbeat', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { state_version: 1 }), 0);
      sut.recordLoaded('rt-a', loaded('iris', 1, 2));

      const changed = sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 3, models: [report('mnist', 4)] }),
        10,
      );

      expect(changed).toBe(true);
      expect(sut.routes()).toEqual([
        { model_id: 'mnist', version: 4, nodes: ['rt-a'] },
      ]);
      expect(sut.nodesServing(key('iris', 1))).toEqual([]);
    });

    it('accepts a heartbeat with the same state version as the last one', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 5, models: [report('iris', 1)] }),
        0,
      );

      sut.applyHeartbeat(
        heartbeat('rt-a', {
          state_version: 5,
          models: [report('iris', 1, { requests: 9 })],
        }),
        10,
      );

      expect([...sut.modelReports()].map((r) => r.report.requests)).toEqual([
        9,
      ]);
    });

    it('starts a restarted runtime over from its own report, even with a lower state version', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 40, models: [report('iris', 1)] }),
        0,
      );

      const changed = sut.applyHeartbeat(
        heartbeat('rt-a', {
          started_at: '2026-01-01T01:00:00.000Z',
          state_version: 1,
          models: [report('mnist', 1)],
        }),
        10,
      );

      expect(changed).toBe(true);
      expect(sut.routes()).toEqual([
        { model_id: 'mnist', version: 1, nodes: ['rt-a'] },
      ]);
      // The restarted runtime's versions count from its new start: 2 is newer than 1.
      sut.applyHeartbeat(
        heartbeat('rt-a', {
          started_at: '2026-01-01T01:00:00.000Z',
          state_version: 2,
          models: [],
        }),
        20,
      );
      expect(sut.routes()).toEqual([]);
    });
  });

  describe('recordLoaded', () => {
    it('adds the model as loaded with its measured memory', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 1, used_bytes: 0 }),
        0,
      );

      sut.recordLoaded('rt-a', loaded('iris', 1, 2, 321));

      expect(sut.routes()).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-a'] },
      ]);
      expect(candidates()).toEqual([
        {
          nodeId: 'rt-a',
          capacityBytes: 1000,
          usedBytes: 321,
          modelsLoaded: 1,
        },
      ]);
    });

    it('ignores a reply older than what the view already holds', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { state_version: 5 }), 0);

      sut.recordLoaded('rt-a', loaded('iris', 1, 4));

      expect(sut.routes()).toEqual([]);
    });

    it('applies a reply as fresh as the last report (the pair may have been forgotten since)', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { state_version: 5 }), 0);

      sut.recordLoaded('rt-a', loaded('iris', 1, 5));

      expect(sut.routes()).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-a'] },
      ]);
    });

    it('ignores a reply from a runtime the view does not know', () => {
      sut.recordLoaded('ghost', loaded('iris', 1, 5));

      expect(sut.has('ghost')).toBe(false);
      expect(sut.routes()).toEqual([]);
    });
  });

  describe('expire', () => {
    it('drops runtimes silent for longer than the timeout and returns their ids', () => {
      sut.applyHeartbeat(heartbeat('rt-a'), 0);
      sut.applyHeartbeat(heartbeat('rt-b'), 200);
      sut.applyHeartbeat(heartbeat('rt-c'), 0);

      expect(sut.expire(TIMEOUT_MS)).toEqual([]);
      const dead = sut.expire(TIMEOUT_MS + 1);

      expect(dead.sort()).toEqual(['rt-a', 'rt-c']);
      expect(sut.has('rt-a')).toBe(false);
      expect(sut.has('rt-c')).toBe(false);
      expect(sut.has('rt-b')).toBe(true);
      expect(sut.expire(TIMEOUT_MS + 1)).toEqual([]);
    });

    it('reports an expired runtime as lost, as last seen, until it reports again', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { models: [report('iris', 1)], rss_bytes: 70 }),
        0,
      );
      sut.applyHeartbeat(heartbeat('rt-b'), 1000);

      sut.expire(1000);

      expect(sut.runtimeStatuses()).toEqual([
        {
          node_id: 'rt-a',
          alive: false,
          capacity_bytes: 1000,
          soft_limit_bytes: 900,
          used_bytes: 0,
          rss_bytes: 70,
          memory: {
            models_bytes: 0,
            loading_bytes: 0,
            unloading_bytes: 0,
            base_bytes: 40,
          },
          models_loaded: 0,
          started_at: STARTED_AT,
          last_seen_at: '1970-01-01T00:00:00.000Z',
        },
        expect.objectContaining({ node_id: 'rt-b', alive: true }),
      ]);
      expect(candidates().map((c) => c.nodeId)).toEqual(['rt-b']);

      sut.applyHeartbeat(heartbeat('rt-a', { seq: 9 }), 1100);

      expect(sut.runtimeStatuses().map((r) => [r.node_id, r.alive])).toEqual([
        ['rt-a', true],
        ['rt-b', true],
      ]);
    });

    it('forgets a lost runtime that has not come back within the retention', () => {
      sut.applyHeartbeat(heartbeat('rt-a'), 0);
      sut.expire(TIMEOUT_MS + 1);

      sut.expire(TIMEOUT_MS + 1 + LOST_RETENTION_MS);
      expect(sut.runtimeStatuses().map((r) => r.node_id)).toEqual(['rt-a']);

      sut.expire(TIMEOUT_MS + 2 + LOST_RETENTION_MS);
      expect(sut.runtimeStatuses()).toEqual([]);
    });

    it('takes the routes of an expired runtime with it', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { models: [report('iris', 1)] }), 0);
      sut.applyHeartbeat(
        heartbeat('rt-b', { models: [report('iris', 1)] }),
        1000,
      );

      sut.expire(1000);

      expect(sut.routes()).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-b'] },
      ]);
    });
  });

  describe('memory accounting', () => {
    it('adds reservations to usedBytes until they are released', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { used_bytes: 100 }), 0);

      sut.reserve('rt-a', key('iris', 1), 300);
      expect(candidates()[0].usedBytes).toBe(400);
      expect(sut.runtimeStatuses()[0].used_bytes).toBe(400);

      sut.release('rt-a', key('iris', 1));
      expect(candidates()[0].usedBytes).toBe(100);
    });

    it('does not count a reservation twice once the model shows in the reports', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 1, used_bytes: 100 }),
        0,
      );
      sut.reserve('rt-a', key('iris', 1), 300);

      sut.applyHeartbeat(
        heartbeat('rt-a', {
          state_version: 2,
          used_bytes: 350,
          models: [report('iris', 1, { memory_bytes: 250 })],
        }),
        10,
      );

      expect(candidates()[0].usedBytes).toBe(350);
      sut.release('rt-a', key('iris', 1));
      expect(candidates()[0].usedBytes).toBe(350);
    });

    it('does not count a reservation twice once a load reply recorded the model', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { state_version: 1, used_bytes: 0 }),
        0,
      );
      sut.reserve('rt-a', key('iris', 1), 300);

      sut.recordLoaded('rt-a', loaded('iris', 1, 2, 280));

      expect(candidates()[0].usedBytes).toBe(280);
    });

    it('uses the larger of the reported total and the sum of model sizes', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', {
          used_bytes: 50,
          models: [report('a', 1, { memory_bytes: 300 })],
        }),
        0,
      );
      sut.applyHeartbeat(
        heartbeat('rt-b', {
          used_bytes: 700,
          models: [report('a', 1, { memory_bytes: 300 })],
        }),
        0,
      );

      const used = Object.fromEntries(
        candidates().map((c) => [c.nodeId, c.usedBytes]),
      );

      expect(used).toEqual({ 'rt-a': 300, 'rt-b': 700 });
    });

    it('counts neither the memory nor the routes of failed models', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', {
          used_bytes: 0,
          models: [
            report('broken', 1, {
              state: 'failed',
              memory_bytes: 500,
              reason: 'bad graph',
            }),
            report('fine', 1, { memory_bytes: 120 }),
          ],
        }),
        0,
      );

      expect(candidates()).toEqual([
        {
          nodeId: 'rt-a',
          capacityBytes: 1000,
          usedBytes: 120,
          modelsLoaded: 1,
        },
      ]);
      expect(sut.routes()).toEqual([
        { model_id: 'fine', version: 1, nodes: ['rt-a'] },
      ]);
      expect(sut.nodesServing(key('broken', 1))).toEqual([]);
    });

    it('ignores reservations for runtimes it does not know', () => {
      sut.reserve('ghost', key('iris', 1), 300);

      expect(candidates()).toEqual([]);
    });
  });

  describe('forget', () => {
    it('drops one model from one runtime and leaves the rest', () => {
      sut.applyHeartbeat(
        heartbeat('rt-a', { models: [report('iris', 1), report('mnist', 1)] }),
        0,
      );
      sut.applyHeartbeat(heartbeat('rt-b', { models: [report('iris', 1)] }), 0);

      sut.forget('rt-a', key('iris', 1));

      expect(sut.routes()).toEqual([
        { model_id: 'iris', version: 1, nodes: ['rt-b'] },
        { model_id: 'mnist', version: 1, nodes: ['rt-a'] },
      ]);
    });
  });

  describe('nodesServing', () => {
    beforeEach(() => {
      sut.applyHeartbeat(
        heartbeat('n1', { models: [report('iris', 1, { in_flight: 3 })] }),
        0,
      );
      sut.applyHeartbeat(
        heartbeat('n3', { models: [report('iris', 1, { in_flight: 0 })] }),
        0,
      );
      sut.applyHeartbeat(
        heartbeat('n2', { models: [report('iris', 1, { in_flight: 0 })] }),
        0,
      );
      sut.applyHeartbeat(
        heartbeat('n4', { models: [report('iris', 1, { state: 'loading' })] }),
        0,
      );
    });

    it('orders nodes by requests in flight, then by node id', () => {
      expect(sut.nodesServing(key('iris', 1))).toEqual(['n2', 'n3', 'n1']);
    });

    it('leaves out excluded nodes', () => {
      expect(sut.nodesServing(key('iris', 1), ['n2', 'n1'])).toEqual(['n3']);
    });

    it('answers nothing for a model no node holds', () => {
      expect(sut.nodesServing(key('iris', 2))).toEqual([]);
    });
  });

  describe('remove', () => {
    it('forgets a runtime that is stopping, without reporting it lost, and says whether it knew it', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { models: [report('iris', 1)] }), 0);

      expect(sut.remove('rt-a')).toBe(true);
      expect(sut.remove('rt-a')).toBe(false);
      expect(sut.routes()).toEqual([]);
      expect(sut.size).toBe(0);
      expect(sut.runtimeStatuses()).toEqual([]);
    });

    it('forgets a lost runtime that says it is stopping', () => {
      sut.applyHeartbeat(heartbeat('rt-a'), 0);
      sut.markLost('rt-a', 10);

      expect(sut.remove('rt-a')).toBe(false);
      expect(sut.runtimeStatuses()).toEqual([]);
    });
  });

  describe('markLost', () => {
    it('drops a runtime with its routes and reports it lost', () => {
      sut.applyHeartbeat(heartbeat('rt-a', { models: [report('iris', 1)] }), 0);

      expect(sut.markLost('rt-a', 10)).toBe(true);

      expect(sut.has('rt-a')).toBe(false);
      expect(sut.routes()).toEqual([]);
      expect(sut.nodesServing(key('iris', 1))).toEqual([]);
      expect(sut.runtimeStatuses()).toEqual([
        expect.objectContaining({ node_id: 'rt-a', alive: false }),
      ]);
      expect(sut.markLost('rt-a', 20)).toBe(false);
    });
  });

  describe('runtimeStatuses', () => {
    it('describes every runtime, sorted by node id', () => {
      sut.applyHeartbeat(
        heartbeat('rt-b', { capacity_bytes: 2000, rss_bytes: 77 }),
        Date.parse('2026-01-02T00:00:00.000Z'),
      );
      sut.applyHeartbeat(
        heartbeat('rt-a', {
          models: [report('iris', 1, { memory_bytes: 150 })],
        }),
        0,
      );

      expect(sut.runtimeStatuses()).toEqual([
        {
          node_id: 'rt-a',
          alive: true,
          capacity_bytes: 1000,
          soft_limit_bytes: 900,
          used_bytes: 150,
          rss_bytes: 50,
          memory: {
            models_bytes: 150,
            loading_bytes: 0,
            unloading_bytes: 0,
            base_bytes: 40,
          },
          models_loaded: 1,
          started_at: STARTED_AT,
          last_seen_at: '1970-01-01T00:00:00.000Z',
        },
        {
          node_id: 'rt-b',
          alive: true,
          capacity_bytes: 2000,
          soft_limit_bytes: 900,
          used_bytes: 0,
          rss_bytes: 77,
          memory: {
            models_bytes: 0,
            loading_bytes: 0,
            unloading_bytes: 0,
            base_bytes: 40,
          },
          models_loaded: 0,
          started_at: STARTED_AT,
          last_seen_at: '2026-01-02T00:00:00.000Z',
        },
      ]);
    });
  });
});
