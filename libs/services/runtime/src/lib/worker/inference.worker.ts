/**
 * An inference worker thread. Model frameworks block their thread while they load and
 * run; here that blocks only this worker, never the runtime's event loop (heartbeats,
 * NATS, other models). The pool gives each copy of a model a worker of its own, which
 * serializes its runs. Built as its own entry point (`inference-worker.js`) next to
 * each app's main.
 */
import { parentPort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

import { PortfolioError } from '@portfolio/contracts';
import {
  createBackend,
  EngineError,
  LoadedModel,
  scrubEngineMessage,
  supportedBackends,
} from '@portfolio/model-formats';
import { Tensor, TensorError } from '@portfolio/tensor';

import { WorkerReady, WorkerReply, WorkerRequest } from './worker-protocol';
import { transferList } from './transfer.util';
import { warmupInputs } from './warmup.util';

const port = parentPort;
if (!port) throw new Error('inference.worker must run in a worker thread');

const models = new Map<string, LoadedModel>();

// Fixed costs first, then the first message: `ready` tells the pool this worker's
// memory baseline is set (see ModelBackend.warmUp).
void Promise.all(supportedBackends().map((b) => b.warmUp())).then(
  () => port.postMessage({ ready: true } satisfies WorkerReady),
  (e: unknown) =>
    port.postMessage({ ready: false, error: message(e) } satisfies WorkerReady),
);

port.on('message', (request: WorkerRequest) => {
  void handle(request).then(
    (reply) =>
      port.postMessage(
        reply,
        reply.ok && reply.op === 'run' ? transferList(reply.outputs) : [],
      ),
    (e: unknown) => port.postMessage(failure(request.id, e)),
  );
});

async function handle(request: WorkerRequest): Promise<WorkerReply> {
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
        };
      let model: LoadedModel;
      try {
        model = await createBackend(request.format).load(request.path, {
          intraOpThreads: request.intraOpThreads,
        });
      } catch (e) {
        if (e instanceof PortfolioError) throw e;
        throw failed(
          'MODEL_LOAD_FAILED',
          `${request.key} failed to load: ${clientMessage(e)}`,
          e,
        );
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
  error.cause = e instanceof EngineError ? e.detail : message(e);
  return error;
}

function clientMessage(e: unknown): string {
  return e instanceof EngineError ? e.message : scrubEngineMessage(message(e));
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
  return { id, ok: false, error: { code: 'INTERNAL', message: message(e) } };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
