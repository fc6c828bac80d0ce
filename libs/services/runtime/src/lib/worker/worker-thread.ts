import { Worker } from 'node:worker_threads';

import { ErrorCode, PortfolioError } from '@portfolio/contracts';

import { WorkerReady, WorkerReply, WorkerRequest } from './worker-protocol';

export interface WorkerScript {
  /** Path of the built `inference-worker.js` (or of the .ts source under a TS loader, in tests). */
  readonly path: string;
  readonly execArgv?: readonly string[];
}

/** Distributive Omit: keeps each member of the request union intact. */
export type WorkerCall = WorkerRequest extends infer R
  ? R extends WorkerRequest
    ? Omit<R, 'id'>
    : never
  : never;

export type OkReply = WorkerReply & { ok: true };

/** A failed reply as the error its caller gets. */
export function replyError(reply: WorkerReply & { ok: false }): PortfolioError {
  const error = new PortfolioError(
    reply.error.code as ErrorCode,
    reply.error.message,
  );
  // What the framework said, for the host's logs; never sent on.
  if (reply.error.detail !== undefined) error.cause = reply.error.detail;
  return error;
}

interface Pending {
  resolve(reply: OkReply): void;
  reject(error: Error): void;
}

/**
 * One inference worker thread: its warm-up, its calls, and its end. A thread that ends
 * without being asked to (an uncaught error, process.exit in the worker) fails its
 * pending calls with MODEL_NOT_LOADED and calls `onLost` once.
 */
export class WorkerThread {
  readonly worker: Worker;
  /** Resolves once the worker has warmed its backends up; calls wait for it. */
  readonly ready: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  /** Calls in flight, so that stopping can wait for them (see stop). */
  private readonly calls = new Set<Promise<unknown>>();
  private nextId = 1;
  private failReady!: (e: Error) => void;
  private ended = false;
  private stopping = false;

  constructor(
    readonly index: number,
    script: WorkerScript,
    private readonly onLost: (reason: string, detail?: string) => void,
  ) {
    // Not the parent's flags by default: a loader the parent runs under (a benchmark
    // under @swc-node/register) would load again in every thread, for 0.4 s and 40 MiB.
    this.worker = new Worker(script.path, {
      execArgv: script.execArgv ? [...script.execArgv] : [],
    });
    let markReady!: () => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      this.failReady = reject;
    });
    // A failed warm-up surfaces on the first call to this worker, not as an unhandled rejection.
    this.ready.catch(() => undefined);
    this.worker.on('message', (reply: WorkerReply | WorkerReady) => {
      if ('ready' in reply) {
        if (reply.ready) markReady();
        else
          this.failReady(
            new PortfolioError(
              'INTERNAL',
              `worker ${index} could not start its model backends: ${reply.error}`,
            ),
          );
        return;
      }
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(replyError(reply));
    });
    // The reason reaches clients (status, retries); what the worker threw, only the log.
    this.worker.on('error', (e) =>
      this.end(`worker ${index} failed`, e.stack ?? e.message),
    );
    this.worker.on('exit', (code) =>
      this.end(`worker ${index} exited with code ${code}`),
    );
    this.worker.unref();
  }

  /** Whether the thread is gone (lost or stopped). */
  get gone(): boolean {
    return this.ended;
  }

  /** Whether a call is in flight (a native call may be running: never terminate then). */
  get busy(): boolean {
    return this.calls.size > 0;
  }

  async call(
    request: WorkerCall,
    transfer: ArrayBuffer[] = [],
  ): Promise<OkReply> {
    await this.ready;
    if (this.ended)
      throw new PortfolioError(
        'MODEL_NOT_LOADED',
        `worker ${this.index} has stopped; retry`,
      );
    const id = this.nextId++;
    const call = new Promise<OkReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } as WorkerRequest, transfer);
    });
    this.calls.add(call);
    const untrack = () => this.calls.delete(call);
    call.then(untrack, untrack);
    return call;
  }

  /**
   * Ends the thread once its warm-up and calls in flight have settled (at most
   * `graceMs`): terminating a thread in the middle of an ONNX Runtime call aborts the
   * whole process. Not reported as lost.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, graceMs)),
    );
    await Promise.race([
      Promise.allSettled([this.ready, ...this.calls]),
      timeout,
    ]);
    clearTimeout(timer);
    await this.worker.terminate();
  }

  private end(reason: string, detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    const error = new PortfolioError('MODEL_NOT_LOADED', `${reason}; retry`);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    // Calls still waiting for this worker's warm-up must not wait forever.
    this.failReady(error);
    if (!this.stopping) this.onLost(reason, detail);
  }
}
