import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
} from '@nestjs/common';
import { performance } from 'node:perf_hooks';

import {
  LoadedModelReport,
  LoadModelRequest,
  LoadModelResponse,
  EvictionReason,
  ModelState,
  PortfolioError,
  Signature,
  UnloadModelResponse,
} from '@portfolio/contracts';
import { StorageDriver } from '@portfolio/storage';
import { checkTensor, Tensor, TensorError } from '@portfolio/tensor';

import { AsyncMutex } from './async-mutex';
import { RequestLog } from './request-log';
import {
  RUNTIME_SETTINGS,
  RUNTIME_STORAGE,
  RuntimeSettings,
} from './runtime.settings';
import { WorkerPool } from './worker/worker-pool';

interface HostedModel {
  readonly key: string;
  readonly modelId: string;
  readonly version: number;
  state: ModelState;
  /** Measured once loaded; the reservation (declared estimate) while loading. */
  memoryBytes: number;
  signature: Signature | null;
  loadedAt: Date | null;
  lastUsedAt: Date | null;
  requests: number;
  errors: number;
  inFlight: number;
  /** Milliseconds the workers spent running it. */
  busyMs: number;
  /** Set while an unload runs; a load of the same model waits for it. */
  unloading: Promise<unknown> | null;
  loadMs: number | null;
  reason: string | null;
  loading: Promise<LoadModelResponse> | null;
  drained: (() => void) | null;
}

/** How long shutdown waits for requests and loads in flight before stopping workers. */
const SHUTDOWN_DRAIN_MS = 15_000;

export const modelKey = (modelId: string, version: number) =>
  `${modelId}@${version}`;

/**
 * The models this runtime holds and their memory. It is the last line of defence for
 * memory: whatever the cache-manager asks, a load that would take the runtime past its
 * hard limit is refused (before loading against the declared estimate, and after it
 * against the measurement). Memory of loads and unloads in progress counts as used.
 *
 * Loads are serialized: the RSS delta around one load is that model's memory only when
 * no other load runs at the same time.
 */
@Injectable()
export class ModelHostService implements OnApplicationShutdown {
  private readonly logger = new Logger('ModelHost');
  private readonly models = new Map<string, HostedModel>();
  private readonly loadLock = new AsyncMutex();
  private readonly pool: WorkerPool;
  private readonly listeners = new Set<() => void>();
  private readonly requestLog: RequestLog | null;
  private baselineRss: number | null = null;
  private version = 0;

  constructor(
    @Inject(RUNTIME_SETTINGS) readonly settings: RuntimeSettings,
    @Inject(RUNTIME_STORAGE) private readonly storage: StorageDriver,
  ) {
    this.pool = new WorkerPool(
      settings.workerScript,
      settings.workers,
      (keys, reason) => this.workerLost(keys, reason),
    );
    this.pool.ready().then(
      () => {
        if (this.models.size === 0)
          this.baselineRss = process.memoryUsage.rss();
      },
      () => undefined,
    );
    this.requestLog = settings.requestLogPath
      ? new RequestLog(settings.requestLogPath)
      : null;
  }

  /** Called after every change of state, so reports go out without waiting for the next beat. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Increases with every change to the models held (see RuntimeHeartbeat.state_version). */
  get stateVersion(): number {
    return this.version;
  }

  usedBytes(): number {
    let used = 0;
    for (const m of this.models.values())
      if (m.state !== 'failed' && m.state !== 'unloaded') used += m.memoryBytes;
    return used;
  }

  report(): LoadedModelReport[] {
    return [...this.models.values()].map((m) => ({
      model_id: m.modelId,
      version: m.version,
      state: m.state,
      memory_bytes: m.memoryBytes,
      loaded_at: m.loadedAt?.toISOString() ?? null,
      last_used_at: m.lastUsedAt?.toISOString() ?? null,
      requests: m.requests,
      errors: m.errors,
      in_flight: m.inFlight,
      busy_ms: m.busyMs,
      load_ms: m.loadMs,
      reason: m.reason,
    }));
  }

  async load(req: LoadModelRequest): Promise<LoadModelResponse> {
    const key = modelKey(req.model_id, req.version);
    const existing = this.models.get(key);
    if (existing?.state === 'loaded') {
      return {
        model_id: req.model_id,
        version: req.version,
        memory_bytes: existing.memoryBytes,
        load_ms: existing.loadMs ?? 0,
        loaded_now: false,
        state_version: this.version,
      };
    }
    if (existing?.loading) return existing.loading;
    // A request that finds the model on its way out gets a fresh load once it is gone.
    if (existing?.unloading) {
      await existing.unloading.catch(() => undefined);
      return this.load(req);
    }

    const estimate = Math.max(req.memory_estimate_bytes, req.size_bytes);
    this.assertRoom(key, estimate);
    const model: HostedModel = {
      key,
      modelId: req.model_id,
      version: req.version,
      state: 'loading',
      memoryBytes: estimate,
      signature: null,
      loadedAt: null,
      lastUsedAt: null,
      requests: existing?.requests ?? 0,
      errors: existing?.errors ?? 0,
      inFlight: 0,
      busyMs: existing?.busyMs ?? 0,
      unloading: null,
      loadMs: null,
      reason: null,
      loading: null,
      drained: null,
    };
    this.models.set(key, model);
    model.loading = this.loadLock
      .run(() => this.doLoad(model, req))
      .finally(() => {
        model.loading = null;
        this.changed();
      });
    this.changed();
    return model.loading;
  }

  private async doLoad(
    model: HostedModel,
    req: LoadModelRequest,
  ): Promise<LoadModelResponse> {
    const started = performance.now();
    let path: string | null = null;
    try {
      try {
        path = await this.storage.localPath(req.artifact_uri);
      } catch (e) {
        // The driver's message names where the server keeps artifacts: logs only.
        const error = new PortfolioError(
          'MODEL_LOAD_FAILED',
          `the artifact of ${model.key} (${req.artifact_uri}) cannot be read from storage`,
        );
        error.cause = e instanceof Error ? e.message : String(e);
        throw error;
      }
      // The workers' one-time costs must be paid before the baseline is taken.
      await this.pool.ready();
      const rssBefore = process.memoryUsage.rss();
      const { signature } = await this.pool.load(
        model.key,
        req.format,
        path,
        this.settings.intraOpThreads,
      );
      const measured = Math.max(
        process.memoryUsage.rss() - rssBefore,
        req.size_bytes,
      );
      // The estimate was checked before loading; the measurement may be larger.
      const others = this.usedBytes() - model.memoryBytes;
      if (others + measured > this.settings.capacityBytes) {
        await this.pool.unload(model.key).catch(() => undefined);
        throw new PortfolioError(
          'INSUFFICIENT_MEMORY',
          `${model.key} measured ${measured} bytes once loaded, more than the ${this.settings.capacityBytes - others} bytes free on ${this.settings.nodeId}`,
          { node_id: this.settings.nodeId, measured_bytes: measured },
        );
      }
      model.memoryBytes = measured;
      model.signature = signature;
      model.state = 'loaded';
      model.loadedAt = new Date();
      model.loadMs = performance.now() - started;
      this.changed();
      this.logger.log(
        `loaded ${model.key}: ${measured} bytes in ${model.loadMs.toFixed(0)} ms`,
      );
      return {
        model_id: model.modelId,
        version: model.version,
        memory_bytes: measured,
        load_ms: model.loadMs,
        loaded_now: true,
        state_version: this.version,
      };
    } catch (e) {
      model.state = 'failed';
      model.memoryBytes = 0;
      // Clients see the reason (status, metadata); the logs get where and what exactly.
      const coded = e instanceof PortfolioError && e.code !== 'INTERNAL';
      model.reason = coded ? e.message : `${model.key} failed to load`;
      this.logger.warn(
        `loading ${model.key} from ${path ?? req.artifact_uri} failed: ${describeCause(e)}`,
      );
      throw e instanceof PortfolioError
        ? e
        : new PortfolioError('MODEL_LOAD_FAILED', model.reason);
    }
  }

  /**
   * Waits for requests in flight on the model, then frees it. Its memory counts as used
   * until the worker has released it. Concurrent unloads of one model share one.
   */
  async unload(
    modelId: string,
    version: number,
    reason: EvictionReason = 'admin',
  ): Promise<UnloadModelResponse> {
    const key = modelKey(modelId, version);
    const model = this.models.get(key);
    if (!model)
      return { freed_bytes: 0, was_loaded: false, state_version: this.version };
    if (model.unloading) return model.unloading as Promise<UnloadModelResponse>;
    const unloading = this.doUnload(model, reason).finally(() => {
      model.unloading = null;
    });
    model.unloading = unloading;
    return unloading;
  }

  private async doUnload(
    model: HostedModel,
    reason: EvictionReason,
  ): Promise<UnloadModelResponse> {
    const key = model.key;
    if (model.loading) await model.loading.catch(() => undefined);
    if (model.state !== 'loaded') {
      this.models.delete(key);
      this.changed();
      return { freed_bytes: 0, was_loaded: false, state_version: this.version };
    }
    model.state = 'unloading';
    this.changed();
    if (model.inFlight > 0)
      await new Promise<void>((resolve) => (model.drained = resolve));
    const freed = model.memoryBytes;
    try {
      await this.pool.unload(key);
    } finally {
      this.models.delete(key);
      this.changed();
    }
    this.logger.log(`unloaded ${key} (${freed} bytes; reason: ${reason})`);
    return {
      freed_bytes: freed,
      was_loaded: true,
      state_version: this.version,
    };
  }

  async infer(
    modelId: string,
    version: number,
    inputs: Record<string, Tensor>,
    outputs?: readonly string[],
  ): Promise<{ outputs: Record<string, Tensor>; computeMs: number }> {
    const key = modelKey(modelId, version);
    const model = this.models.get(key);
    if (!model || model.state !== 'loaded' || !model.signature) {
      throw new PortfolioError(
        'MODEL_NOT_LOADED',
        `${key} is not loaded on ${this.settings.nodeId}`,
        {
          node_id: this.settings.nodeId,
        },
      );
    }
    this.checkInputs(model.key, model.signature, inputs, outputs);
    model.inFlight++;
    model.lastUsedAt = new Date();
    try {
      const result = await this.pool.run(key, inputs, outputs);
      model.requests++;
      model.busyMs += result.computeMs;
      this.requestLog?.record(
        model.lastUsedAt.getTime(),
        model.modelId,
        model.version,
        model.memoryBytes,
        model.loadMs,
      );
      return result;
    } catch (e) {
      model.errors++;
      if (e instanceof PortfolioError && e.code === 'INVALID_INPUT')
        this.logger.log(`${key} refused an input: ${describeCause(e)}`);
      throw e;
    } finally {
      model.inFlight--;
      if (model.inFlight === 0 && model.drained) model.drained();
    }
  }

  /** Lets requests and loads in flight finish (up to a bound), then stops the workers. */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.close(SHUTDOWN_DRAIN_MS);
    await this.requestLog?.close();
  }

  /**
   * The process's memory apart from models: its RSS once the workers had warmed up
   * (Node, the workers, the engines' one-time costs), before any model was loaded.
   * Until then, the current RSS.
   */
  baseBytes(): number {
    return this.baselineRss ?? process.memoryUsage.rss();
  }

  private checkInputs(
    key: string,
    signature: Signature,
    inputs: Record<string, Tensor>,
    outputs?: readonly string[],
  ): void {
    const expected = new Set(signature.inputs.map((i) => i.name));
    for (const name of Object.keys(inputs)) {
      if (!expected.has(name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `${key} has no input "${name}" (inputs: ${[...expected].join(', ')})`,
          {
            input: name,
          },
        );
      }
    }
    for (const spec of signature.inputs) {
      const tensor = inputs[spec.name];
      if (!tensor) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `input "${spec.name}" is missing`,
          { input: spec.name },
        );
      }
      // An empty declared shape may mean "undeclared" (see LoadedModel.signature).
      try {
        checkTensor(
          spec.name,
          tensor,
          spec.shape.length ? spec : { ...spec, shape: tensor.shape },
        );
      } catch (e) {
        if (e instanceof TensorError) {
          throw new PortfolioError('INVALID_INPUT', e.message, e.details);
        }
        throw e;
      }
    }
    const known = new Set(signature.outputs.map((o) => o.name));
    for (const name of outputs ?? []) {
      if (!known.has(name)) {
        throw new PortfolioError(
          'INVALID_INPUT',
          `${key} has no output "${name}" (outputs: ${[...known].join(', ')})`,
          {
            output: name,
          },
        );
      }
    }
  }

  private assertRoom(key: string, bytes: number): void {
    const used = this.usedBytes();
    if (used + bytes > this.settings.capacityBytes) {
      throw new PortfolioError(
        'INSUFFICIENT_MEMORY',
        `${this.settings.nodeId} cannot load ${key}: it needs about ${bytes} bytes and ${used} of ${this.settings.capacityBytes} are in use`,
        {
          node_id: this.settings.nodeId,
          needed_bytes: bytes,
          used_bytes: used,
          capacity_bytes: this.settings.capacityBytes,
        },
      );
    }
  }

  private workerLost(keys: string[], reason: string): void {
    for (const key of keys) {
      const model = this.models.get(key);
      if (!model) continue;
      model.state = 'failed';
      model.memoryBytes = 0;
      model.reason = reason;
    }
    this.changed();
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

/** The whole story of a failure for the logs: the framework's own words when there are any. */
function describeCause(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (typeof e.cause === 'string') return `${e.message} (${e.cause})`;
  return e instanceof PortfolioError ? e.message : (e.stack ?? e.message);
}
