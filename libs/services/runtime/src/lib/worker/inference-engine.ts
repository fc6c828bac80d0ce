/**
 * What an inference thread does with the pool's requests: load a model, run it, unload
 * it. The worker script (inference.worker.ts) serves it to the main thread over its
 * port; the pool may also keep one on the main thread for models too small to be worth
 * a thread hop (see WorkerPool's inline copies).
 */
import { performance } from 'node:perf_hooks';

import { ModelFormat, PortfolioError } from '@portfolio/contracts';
import {
  createBackend,
  eagerBackends,
  EngineError,
  LoadedModel,
  ProcessedModel,
  scrubEngineMessage,
  warmupInputs,
} from '@portfolio/model-formats';
import { Tensor, TensorError } from '@portfolio/tensor';

import { WorkerReply, WorkerRequest } from './worker-protocol';

export class InferenceEngine {
  private readonly models = new Map<string, LoadedModel>();
  /** Formats whose framework this thread has warmed up (see ModelBackend.eager). */
  private readonly warmed = new Set<ModelFormat>();

  /** The eager backends' fixed costs, paid once before the first request. */
  async warmUp(): Promise<void> {
    const eager = eagerBackends();
    await Promise.all(eager.map((b) => b.warmUp()));
    for (const b of eager) this.warmed.add(b.format);
  }

  /** The reply to one request: a failure is a reply too, never a rejection. */
  async reply(request: WorkerRequest): Promise<WorkerReply> {
    try {
      return await handle(this.models, this.warmed, request);
    } catch (e) {
      return failure(request.id, e);
    }
  }
}

async function handle(
  models: Map<string, LoadedModel>,
  warmed: Set<ModelFormat>,
  request: WorkerRequest,
): Promise<WorkerReply> {
  switch (request.op) {
    case 'load': {
      const existing = models.get(request.key);
      if (existing)
        return {
          id: request.id,
          ok: true,
          op: 'load',
          signature: existing.signature,
          warmupMs: null,
          warmupBatch: null,
          frameworkBytes: 0,
          externalBytes: 0,
        };
      let model: LoadedModel;
      let frameworkBytes = 0;
      try {
        const backend = createBackend(request.format);
        if (!warmed.has(request.format)) {
          // The framework's one-time cost is this thread's, not the model's: measured
          // apart so that the runtime counts it as base memory (loads are serialized).
          const before = process.memoryUsage.rss();
          await backend.warmUp();
          warmed.add(request.format);
          frameworkBytes = Math.max(0, process.memoryUsage.rss() - before);
        }
        model = await backend.load(request.path, {
          intraOpThreads: request.intraOpThreads,
          ...(request.engine ? { engine: request.engine } : {}),
        });
      } catch (e) {
        if (e instanceof PortfolioError) throw e;
        throw failed(
          'MODEL_LOAD_FAILED',
          `${request.key} failed to load: ${clientMessage(e)}`,
          e,
        );
      }
      if (request.processing) {
        try {
          model = new ProcessedModel(model, request.processing);
        } catch (e) {
          await model.release();
          throw e;
        }
      }
      models.set(request.key, model);
      const warm = await warmUp(model, request.warmupBatch);
      return {
        id: request.id,
        ok: true,
        op: 'load',
        signature: model.signature,
        warmupMs: warm?.ms ?? null,
        warmupBatch: warm?.batch ?? null,
        frameworkBytes,
        externalBytes: model.externalBytes ?? 0,
      };
    }
    case 'run': {
      const model = models.get(request.key);
      if (!model)
        throw new PortfolioError(
          'MODEL_NOT_LOADED',
          `${request.key} is not loaded in this worker`,
        );
      const started = performance.now();
      let outputs: Record<string, Tensor>;
      try {
        outputs = await model.run(request.inputs, request.outputs);
      } catch (e) {
        // Shapes and types were checked against the signature before; what the framework
        // still refuses (a dimension that must agree between two inputs, say) is the
        // caller's input too.
        throw failed(
          'INVALID_INPUT',
          `${request.key} refused the input: ${clientMessage(e)}`,
          e,
        );
      }
      return {
        id: request.id,
        ok: true,
        op: 'run',
        outputs,
        computeMs: performance.now() - started,
        startedAt: performance.timeOrigin + started,
      };
    }
    case 'unload': {
      const model = models.get(request.key);
      models.delete(request.key);
      await model?.release();
      return { id: request.id, ok: true, op: 'unload' };
    }
  }
}

/**
 * One run at the model's largest batch right after loading: the first run allocates
 * the framework's arena, which grows with the batch and belongs in the model's measured
 * memory, and a model that loads but cannot run fails here rather than on a client's
 * request. Where that batch fails, batch 1 is tried.
 */
async function warmUp(
  model: LoadedModel,
  batch: number,
): Promise<{ ms: number; batch: number } | null> {
  for (const b of batch > 1 ? [batch, 1] : [1]) {
    const inputs = warmupInputs(model.signature, b);
    if (!inputs) return null;
    const started = performance.now();
    try {
      await model.run(inputs);
      return { ms: performance.now() - started, batch: b };
    } catch {
      // Zeros are not valid input for every model (two variable dimensions that must
      // differ, say); such a model is still served, measured without its arena.
    }
  }
  return null;
}

/** A coded failure whose `cause` is what the framework said, for the runtime's logs. */
function failed(
  code: 'MODEL_LOAD_FAILED' | 'INVALID_INPUT',
  clientText: string,
  e: unknown,
): PortfolioError {
  const error = new PortfolioError(code, clientText);
  error.cause = e instanceof EngineError ? e.detail : errorMessage(e);
  return error;
}

function clientMessage(e: unknown): string {
  return e instanceof EngineError
    ? e.message
    : scrubEngineMessage(errorMessage(e));
}

function failure(id: number, e: unknown): WorkerReply {
  if (e instanceof PortfolioError)
    return {
      id,
      ok: false,
      error: {
        code: e.code,
        message: e.message,
        ...(typeof e.cause === 'string' ? { detail: e.cause } : {}),
      },
    };
  if (e instanceof TensorError)
    return {
      id,
      ok: false,
      error: { code: 'INVALID_INPUT', message: e.message },
    };
  return {
    id,
    ok: false,
    error: { code: 'INTERNAL', message: errorMessage(e) },
  };
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
