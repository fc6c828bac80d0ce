import {
  EngineSettings,
  LoadedModelReport,
  LoadModelRequest,
  LoadModelResponse,
  ModelRecord,
  UnloadModelRequest,
  PortfolioError,
  Registry,
  Runtime,
  RuntimeHeartbeat,
  VersionRecord,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

/**
 * Peers of the cache-manager on a real (in-process) bus: a runtime and a registry that
 * answer the contracts' subjects with canned behaviour. They are not mocks of the code
 * under test; they stand where other processes would.
 */

export interface FakeRuntimeOptions {
  readonly capacityBytes?: number;
  readonly usedBytes?: number;
  readonly startedAt?: string;
  /** Serve Runtime.load and Runtime.ping at all (false: it heartbeats, but nothing answers on its subjects). */
  readonly responsive?: boolean;
}

export type LoadHandler = (
  request: LoadModelRequest,
) => Promise<LoadModelResponse> | LoadModelResponse;

export class FakeRuntime {
  /** Every Runtime.load request received, in order. */
  readonly loads: LoadModelRequest[] = [];
  /** Every Runtime.unload request received, in order. */
  readonly unloads: UnloadModelRequest[] = [];
  capacityBytes: number;
  usedBytes: number;
  startedAt: string;
  stateVersion = 0;
  private seq = 0;
  private readonly models = new Map<string, LoadedModelReport>();
  private subscriptions: BusSubscription[] = [];
  /** Runtime.ping requests received. */
  pings = 0;
  /** How the next loads are answered; by default they succeed, measuring the estimate. */
  onLoad: LoadHandler = (req) => this.succeed(req);
  /** When set, how the next unloads are answered instead (after being recorded). */
  onUnload: ((req: UnloadModelRequest) => Promise<never>) | null = null;

  constructor(
    private readonly messaging: Messaging,
    readonly nodeId: string,
    options: FakeRuntimeOptions = {},
  ) {
    this.capacityBytes = options.capacityBytes ?? 1_000_000;
    this.usedBytes = options.usedBytes ?? 0;
    this.startedAt = options.startedAt ?? new Date().toISOString();
    if (options.responsive ?? true) {
      this.subscriptions = [
        messaging.serve(
          Runtime.load,
          (req) => {
            this.loads.push(req);
            return this.onLoad(req);
          },
          { target: nodeId },
        ),
        messaging.serve(
          Runtime.unload,
          (req) => {
            this.unloads.push(req);
            if (this.onUnload) return this.onUnload(req);
            const k = `${req.model_id}@${req.version}`;
            const held = this.models.get(k);
            if (held) {
              this.stateVersion++;
              this.usedBytes -= held.memory_bytes;
              this.models.delete(k);
            }
            return {
              freed_bytes: held?.memory_bytes ?? 0,
              was_loaded: held !== undefined,
              state_version: this.stateVersion,
            };
          },
          { target: nodeId },
        ),
        messaging.serve(
          Runtime.ping,
          () => {
            this.pings++;
            return {
              service: 'runtime',
              instance: nodeId,
              started_at: this.startedAt,
            };
          },
          { target: nodeId },
        ),
      ];
    }
  }

  /** Loads the model for real as far as this fake goes: it shows in the next heartbeats. */
  succeed(
    req: LoadModelRequest,
    memoryBytes = req.memory_estimate_bytes,
  ): LoadModelResponse {
    const k = `${req.model_id}@${req.version}`;
    const loadedNow = !this.models.has(k);
    if (loadedNow) {
      this.stateVersion++;
      this.usedBytes += memoryBytes;
      this.models.set(
        k,
        report(req.model_id, req.version, { memory_bytes: memoryBytes }),
      );
    }
    return {
      model_id: req.model_id,
      version: req.version,
      memory_bytes: memoryBytes,
      load_ms: 3,
      loaded_now: loadedNow,
      state_version: this.stateVersion,
    };
  }

  /** Reports a model as held (e.g. loaded before this cache-manager started). */
  hold(
    modelId: string,
    version: number,
    overrides: Partial<LoadedModelReport> = {},
  ): void {
    this.stateVersion++;
    const r = report(modelId, version, overrides);
    this.usedBytes += r.memory_bytes;
    this.models.set(`${modelId}@${version}`, r);
  }

  /** Loses a model without telling anyone yet (a crashed worker). */
  drop(modelId: string, version: number): void {
    const r = this.models.get(`${modelId}@${version}`);
    if (!r) return;
    this.stateVersion++;
    this.usedBytes -= r.memory_bytes;
    this.models.delete(`${modelId}@${version}`);
  }

  heartbeatPayload(
    overrides: Partial<RuntimeHeartbeat> = {},
  ): RuntimeHeartbeat {
    return {
      node_id: this.nodeId,
      started_at: this.startedAt,
      seq: ++this.seq,
      state_version: this.stateVersion,
      interval_ms: 100,
      capacity_bytes: this.capacityBytes,
      soft_limit_bytes: Math.floor(this.capacityBytes * 0.9),
      used_bytes: this.usedBytes,
      base_bytes: 10_000,
      rss_bytes: this.usedBytes + 10_000,
      workers: 1,
      formats: ['onnx'],
      models: [...this.models.values()],
      ...overrides,
    };
  }

  heartbeat(overrides: Partial<RuntimeHeartbeat> = {}): void {
    this.messaging.emit(Runtime.heartbeat, this.heartbeatPayload(overrides));
  }

  stopping(): void {
    this.messaging.emit(Runtime.stopping, { node_id: this.nodeId });
  }

  /** Stops answering (the process hangs or died) without saying so. */
  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }
}

export function report(
  modelId: string,
  version: number,
  overrides: Partial<LoadedModelReport> = {},
): LoadedModelReport {
  return {
    model_id: modelId,
    version,
    state: 'loaded',
    memory_bytes: 100,
    loaded_at: '2026-01-01T00:00:00.000Z',
    last_used_at: null,
    requests: 0,
    errors: 0,
    in_flight: 0,
    busy_ms: 0,
    load_ms: 3,
    reason: null,
    ...overrides,
  };
}

export interface FakeModel {
  readonly id: string;
  readonly preload?: boolean;
  readonly pinned?: boolean;
  readonly ttlMs?: number | null;
  readonly labels?: Record<string, string>;
  /** The declared estimate wins over measurements. */
  readonly authoritative?: boolean;
  /** The registry's measured memory per version (from an earlier load). */
  readonly measured?: Record<number, number>;
  readonly memoryEstimateBytes?: number | null;
  /** Version numbers with their artifact sizes; the highest is the default. */
  readonly versions?: Record<number, number>;
  /** Dynamic batching settings (ModelRecord.max_batch_size, max_queue_delay_ms). */
  readonly maxBatchSize?: number | null;
  readonly maxQueueDelayMs?: number | null;
  /** ModelRecord.engine. */
  readonly engine?: EngineSettings | null;
}

const sha = (n: number) => n.toString(16).padStart(64, '0');

/** Answers Registry.listModels and Registry.resolveVersion from a mutable list of models. */
export class FakeRegistry {
  readonly resolves: { model_id: string; version?: number }[] = [];
  private readonly models = new Map<string, FakeModel>();
  private readonly subscriptions: BusSubscription[];

  constructor(messaging: Messaging, models: readonly FakeModel[] = []) {
    for (const m of models) this.put(m);
    this.subscriptions = [
      messaging.serve(Registry.listModels, () => ({
        models: [...this.models.values()].map(modelRecord),
      })),
      messaging.serve(Registry.getModel, (req) => {
        const model = this.models.get(req.id);
        if (!model)
          throw new PortfolioError(
            'MODEL_NOT_FOUND',
            `model "${req.id}" is not registered`,
          );
        return {
          model: modelRecord(model),
          versions: Object.keys(model.versions ?? {}).map((v) =>
            versionRecord(model, Number(v)),
          ),
        };
      }),
      messaging.serve(Registry.resolveVersion, (req) => {
        this.resolves.push(req);
        const model = this.models.get(req.model_id);
        if (!model)
          throw new PortfolioError(
            'MODEL_NOT_FOUND',
            `model "${req.model_id}" is not registered`,
          );
        const numbers = Object.keys(model.versions ?? {}).map(Number);
        const wanted =
          req.version ?? (numbers.length ? Math.max(...numbers) : undefined);
        if (wanted === undefined || !numbers.includes(wanted)) {
          throw new PortfolioError(
            'VERSION_NOT_FOUND',
            `model "${req.model_id}" has no version ${wanted ?? '(default)'}`,
          );
        }
        return {
          model: modelRecord(model),
          version: versionRecord(model, wanted),
        };
      }),
    ];
  }

  put(model: FakeModel): void {
    this.models.set(model.id, model);
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }
}

export function artifactUri(modelId: string, version: number): string {
  return `local:${modelId}/${sha(version)}/model.onnx`;
}

function modelRecord(m: FakeModel): ModelRecord {
  return {
    id: m.id,
    format: 'onnx',
    description: null,
    memory_estimate_bytes: m.memoryEstimateBytes ?? null,
    memory_estimate_authoritative: m.authoritative ?? false,
    preload: m.preload ?? false,
    pinned: m.pinned ?? false,
    ttl_ms: m.ttlMs ?? null,
    labels: m.labels ?? {},
    max_batch_size: m.maxBatchSize ?? null,
    max_queue_delay_ms: m.maxQueueDelayMs ?? null,
    engine: m.engine ?? null,
    processing: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
}

function versionRecord(m: FakeModel, version: number): VersionRecord {
  return {
    model_id: m.id,
    version,
    format: 'onnx',
    artifact_uri: artifactUri(m.id, version),
    sha256: sha(version),
    size_bytes: (m.versions ?? {})[version],
    signature: {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
    },
    status: 'ready',
    created_at: '2026-01-01T00:00:00.000Z',
    measured:
      m.measured?.[version] === undefined
        ? null
        : {
            memory_bytes: m.measured[version],
            load_ms: 10,
            measured_at: '2026-01-01T00:00:00.000Z',
          },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
