import { Logger } from '@nestjs/common';
import { Worker } from 'node:worker_threads';

import {
  ErrorCode,
  ModelFormat,
  PortfolioError,
  Signature,
} from '@portfolio/contracts';
import { Tensor } from '@portfolio/tensor';

import { packForTransfer } from './transfer.util';
import { WorkerReady, WorkerReply, WorkerRequest } from './worker-protocol';

export interface WorkerScript {
  /** Path of the built `inference-worker.js` (or of the .ts source under a TS loader, in tests). */
  readonly path: string;
  readonly execArgv?: readonly string[];
}

interface Pending {
  resolve(reply: WorkerReply & { ok: true }): void;
  reject(error: Error): void;
}

interface Slot {
  index: number;
  worker: Worker;
  /** Resolves once the worker has warmed up; calls wait for it. */
  ready: Promise<void>;
  failReady: (e: Error) => void;
  pending: Map<number, Pending>;
  /** Models placed on this worker, for spreading new ones and for failure handling. */
  models: Set<string>;
  /** Calls in flight, so that closing can wait for them. */
  calls: Set<Promise<unknown>>;
}

/** Distributive Omit: keeps each member of the request union intact. */
type Request = WorkerRequest extends infer R
  ? R extends WorkerRequest
    ? Omit<R, 'id'>
    : never
  : never;

/**
 * A fixed set of worker threads hosting the loaded models. Each model is pinned to one
 * worker (the one with fewest models when it loads). A worker that dies takes its
 * models with it: their pending calls fail, `onWorkerLost` reports which models are
 * gone, and a fresh worker takes its slot.
 */
export class WorkerPool {
  private readonly logger = new Logger('WorkerPool');
  private readonly slots: Slot[] = [];
  private readonly placement = new Map<string, Slot>();
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly script: WorkerScript,
    size: number,
    private readonly onWorkerLost: (models: string[], reason: string) => void,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  get size(): number {
    return this.slots.length;
  }

  async load(
    key: string,
    format: ModelFormat,
    path: string,
    intraOpThreads: number,
  ): Promise<{ signature: Signature; warmupMs: number | null }> {
    const slot =
      this.placement.get(key) ??
      this.slots.reduce((a, b) => (b.models.size < a.models.size ? b : a));
    slot.models.add(key);
    this.placement.set(key, slot);
    try {
      const reply = await this.call(slot, {
        op: 'load',
        key,
        format,
        path,
        intraOpThreads,
      });
      if (reply.op !== 'load') throw new Error('unexpected worker reply');
      return { signature: reply.signature, warmupMs: reply.warmupMs };
    } catch (e) {
      slot.models.delete(key);
      this.placement.delete(key);
      throw e;
    }
  }

  async run(
    key: string,
    inputs: Record<string, Tensor>,
    outputs?: readonly string[],
  ): Promise<{
    outputs: Record<string, Tensor>;
    computeMs: number;
    startedAt: number;
  }> {
    const slot = this.placement.get(key);
    if (!slot)
      throw new PortfolioError(
        'MODEL_NOT_LOADED',
        `${key} is not loaded on this runtime`,
      );
    const packed = packForTransfer(inputs);
    const reply = await this.call(
      slot,
      { op: 'run', key, inputs: packed.tensors, outputs },
      [packed.buffer],
    );
    if (reply.op !== 'run') throw new Error('unexpected worker reply');
    return {
      outputs: reply.outputs,
      computeMs: reply.computeMs,
      startedAt: reply.startedAt,
    };
  }

  async unload(key: string): Promise<void> {
    const slot = this.placement.get(key);
    if (!slot) return;
    try {
      await this.call(slot, { op: 'unload', key });
    } finally {
      slot.models.delete(key);
      this.placement.delete(key);
    }
  }

  /**
   * Stops the workers once their calls in flight have settled (at most `graceMs`):
   * terminating a thread in the middle of an ONNX Runtime call aborts the whole process.
   */
  async close(graceMs = 30_000): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        const settled = Promise.allSettled([slot.ready, ...slot.calls]);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>(
          (resolve) => (timer = setTimeout(resolve, graceMs)),
        );
        await Promise.race([settled, timeout]);
        clearTimeout(timer);
        await slot.worker.terminate();
      }),
    );
  }

  /** Resolves when every worker has warmed up (the process's memory baseline is set). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.ready));
  }

  private async call(
    slot: Slot,
    request: Request,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerReply & { ok: true }> {
    await slot.ready;
    const id = this.nextId++;
    const call = new Promise<WorkerReply & { ok: true }>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...request, id } as WorkerRequest, transfer);
    });
    slot.calls.add(call);
    const untrack = () => slot.calls.delete(call);
    call.then(untrack, untrack);
    return call;
  }

  private spawn(index: number): Slot {
    const worker = new Worker(this.script.path, {
      execArgv: this.script.execArgv ? [...this.script.execArgv] : undefined,
    });
    let markReady!: () => void;
    let markFailed!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    // A failed warm-up surfaces on the first call to this worker, not as an unhandled rejection.
    ready.catch(() => undefined);
    const slot: Slot = {
      index,
      worker,
      ready,
      failReady: markFailed,
      pending: new Map(),
      models: new Set(),
      calls: new Set(),
    };
    worker.on('message', (reply: WorkerReply | WorkerReady) => {
      if ('ready' in reply) {
        if (reply.ready) markReady();
        else
          markFailed(
            new PortfolioError(
              'INTERNAL',
              `worker ${index} could not start its model backends: ${reply.error}`,
            ),
          );
        return;
      }
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply);
      else {
        const error = new PortfolioError(
          reply.error.code as ErrorCode,
          reply.error.message,
        );
        // What the framework said, for the host's logs; never sent on.
        if (reply.error.detail !== undefined) error.cause = reply.error.detail;
        pending.reject(error);
      }
    });
    // The reason reaches clients (status, retries); what the worker threw, only the log.
    worker.on('error', (e) =>
      this.lost(slot, `worker ${index} failed`, e.stack ?? e.message),
    );
    worker.on('exit', (code) =>
      this.lost(slot, `worker ${index} exited with code ${code}`),
    );
    worker.unref();
    return slot;
  }

  private lost(slot: Slot, reason: string, detail?: string): void {
    if (this.slots[slot.index] !== slot) return;
    const models = [...slot.models];
    for (const key of models) this.placement.delete(key);
    for (const p of slot.pending.values())
      p.reject(new PortfolioError('MODEL_NOT_LOADED', `${reason}; retry`));
    // Calls still waiting for this worker's warm-up must not wait forever.
    slot.failReady(new PortfolioError('MODEL_NOT_LOADED', `${reason}; retry`));
    slot.pending.clear();
    if (this.closing) return;
    this.logger.error(
      `${reason}; models lost: ${models.join(', ') || 'none'}; starting a new worker${detail ? `\n${detail}` : ''}`,
    );
    this.slots[slot.index] = this.spawn(slot.index);
    this.onWorkerLost(models, reason);
  }
}
