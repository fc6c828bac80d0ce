import { Logger } from '@nestjs/common';

import { ModelFormat, PortfolioError, Signature } from '@portfolio/contracts';
import { Tensor } from '@portfolio/tensor';

import { packForTransfer } from './transfer.util';
import { WorkerScript, WorkerThread } from './worker-thread';

export type { WorkerScript } from './worker-thread';

export interface LoadResult {
  signature: Signature;
  warmupMs: number | null;
  /** The batch the warm-up ran at (null: none ran). */
  warmupBatch: number | null;
}

export interface RunResult {
  outputs: Record<string, Tensor>;
  computeMs: number;
  /** When the run began in its worker, in ms since the epoch (a clock all threads share). */
  startedAt: number;
  /** The copy that ran it. */
  copy: number;
  /**
   * Set when this run was the copy's largest batch yet and nothing else changed the
   * process's memory meanwhile: how much the RSS grew across it (the arena growing).
   */
  arena?: { batch: number; grewBytes: number };
}

export interface CopyLoss {
  key: string;
  copy: number;
  reason: string;
  /** Copies of the model still serving. */
  remaining: number;
}

export interface WorkerPoolOptions {
  /**
   * Runs at once, over all models (each on its own copy's thread): with
   * `intraOpThreads` threads a run, the threads busy computing stay at most
   * computeSlots x intraOpThreads, which the operator sizes to the cores.
   */
  readonly computeSlots: number;
  /** A serving copy's thread ended without being asked to. */
  readonly onCopyLost: (loss: CopyLoss) => void;
}

/** Per model, cumulative; the host reads differences. */
export interface CopyStats {
  /** Wall time its runs held a copy (from posting a run to its reply). */
  busyMs: number;
  /**
   * Time its runs waited for a copy of it while a compute slot was free: what one more
   * copy would have saved.
   */
  copyWaitMs: number;
}

type CopyState = 'loading' | 'serving' | 'releasing';

interface Copy {
  readonly id: number;
  readonly key: string;
  readonly thread: WorkerThread;
  state: CopyState;
  /** A run is in flight on it: one at a time, so a copy's queue is the pool's. */
  busy: boolean;
  /** The largest batch it has run (its warm-up's to begin with). */
  maxBatch: number;
  lastRunAt: number;
  onIdle: (() => void) | null;
}

/** A model's runs waiting, oldest first. */
interface Queue {
  readonly jobs: Job[];
  /** Since when its head has waited for a copy of it while a compute slot was free. */
  blockedSince: number | null;
}

interface Job {
  readonly seq: number;
  readonly key: string;
  readonly inputs: Record<string, Tensor>;
  readonly outputs?: readonly string[];
  readonly batch: number;
  retried: boolean;
  resolve(result: RunResult): void;
  reject(error: Error): void;
}

/**
 * The runtime's worker threads. Every copy of a model gets a thread of its own, and one
 * warmed-up thread (the spare) waits for the next load, so:
 * - a load runs on a thread that serves nothing yet, and an unload on a thread that
 *   serves only what is being unloaded: neither ever stalls runs of other models;
 * - a busy model may have several copies, and its runs go to whichever is free;
 * - a thread that dies loses only the copy it held (its run is retried once on another
 *   copy; the model is reported lost when none is left).
 * Runs wait in per-model queues for a free copy and a free compute slot. Loads, releases
 * and spawns change the process's memory: the host serializes them (see
 * ModelHostService) so that it can measure each; the pool counts them so that a run's
 * RSS change is attributed to its arena only when nothing else was going on.
 */
export class WorkerPool {
  private readonly logger = new Logger('WorkerPool');
  private readonly copies = new Map<string, Copy[]>();
  private readonly byId = new Map<number, Copy>();
  /** Abandoned loads (timed out): the thread goes once the load is over. */
  private readonly abandoned = new Set<WorkerThread>();
  private readonly queues = new Map<string, Queue>();
  private readonly stats = new Map<string, CopyStats>();
  private spare: WorkerThread | null;
  private slotsFree: number;
  private nextThread = 0;
  private nextCopy = 1;
  private nextJob = 1;
  private memoryOps = 0;
  private memoryEpoch = 0;
  private probing = false;
  private closing = false;

  constructor(
    private readonly script: WorkerScript,
    private readonly options: WorkerPoolOptions,
  ) {
    this.slotsFree = options.computeSlots;
    this.spare = this.spawn();
  }

  /** Resolves once the spare thread has warmed up (rejects if it could not). */
  async ready(): Promise<void> {
    await this.spare?.ready;
  }

  /** Threads alive: copies, the spare, and loads abandoned but not over yet. */
  get threads(): number {
    return (
      this.byId.size +
      (this.spare && !this.spare.gone ? 1 : 0) +
      this.abandoned.size
    );
  }

  /** Copies of `key` that serve runs. */
  serving(key: string): number {
    return (this.copies.get(key) ?? []).filter((c) => c.state === 'serving')
      .length;
  }

  statsOf(key: string): CopyStats {
    return { ...(this.stats.get(key) ?? { busyMs: 0, copyWaitMs: 0 }) };
  }

  /** Whether a copy has a run in flight. */
  copyBusy(copy: number): boolean {
    return this.byId.get(copy)?.busy ?? false;
  }

  /**
   * Makes sure a warmed-up spare thread is there, spawning one if not; true when it
   * spawned one. Spawning changes the process's memory (about 9 MiB): the host calls
   * this under its memory lock.
   */
  async ensureSpare(): Promise<boolean> {
    if (this.spare && !this.spare.gone) {
      await this.spare.ready;
      return false;
    }
    const spare = this.spawn();
    this.spare = spare;
    this.beginMemoryOp();
    try {
      await spare.ready;
      return true;
    } catch (e) {
      if (this.spare === spare) this.spare = null;
      await spare.stop(0);
      throw e;
    } finally {
      this.endMemoryOp();
    }
  }

  /**
   * Loads `key` into the spare thread (see ensureSpare), which becomes one of its
   * copies; the copy serves once activated. `done` fails with the load's error (the
   * thread is then kept as the spare, or stopped when there already is one).
   */
  load(
    key: string,
    format: ModelFormat,
    path: string,
    intraOpThreads: number,
    warmupBatch: number,
  ): { copy: number; done: Promise<LoadResult> } {
    const thread = this.spare;
    if (!thread || thread.gone)
      throw new PortfolioError(
        'INTERNAL',
        `no worker thread is ready to load ${key}`,
      );
    this.spare = null;
    const copy: Copy = {
      id: this.nextCopy++,
      key,
      thread,
      state: 'loading',
      busy: false,
      maxBatch: 1,
      lastRunAt: 0,
      onIdle: null,
    };
    this.byId.set(copy.id, copy);
    this.copies.set(key, [...(this.copies.get(key) ?? []), copy]);
    this.beginMemoryOp();
    const done = thread
      .call({
        op: 'load',
        key,
        format,
        path,
        intraOpThreads,
        warmupBatch,
      })
      .then(
        (reply): LoadResult => {
          if (reply.op !== 'load') throw new Error('unexpected worker reply');
          copy.maxBatch = reply.warmupBatch ?? 1;
          return {
            signature: reply.signature,
            warmupMs: reply.warmupMs,
            warmupBatch: reply.warmupBatch,
          };
        },
        (e: unknown) => {
          if (this.forget(copy) && !thread.gone) {
            if (!this.spare && !this.closing) this.spare = thread;
            else void thread.stop();
          }
          throw e;
        },
      )
      .finally(() => this.endMemoryOp());
    return { copy: copy.id, done };
  }

  /** The copy loaded; runs may go to it from now on. */
  activate(copy: number): void {
    const c = this.byId.get(copy);
    if (!c || c.state !== 'loading') return;
    c.state = 'serving';
    this.dispatch();
  }

  /** No new runs go to the copy (see release). */
  retire(copy: number): void {
    const c = this.byId.get(copy);
    if (c) c.state = 'releasing';
  }

  /**
   * Frees a copy: no new runs go to it, the run in flight on it finishes, its model is
   * released and its thread ends (which returns the thread's memory too).
   */
  async release(copy: number): Promise<void> {
    const c = this.byId.get(copy);
    if (!c) return;
    c.state = 'releasing';
    if (c.busy) await new Promise<void>((resolve) => (c.onIdle = resolve));
    this.beginMemoryOp();
    try {
      if (!c.thread.gone)
        await c.thread
          .call({ op: 'unload', key: c.key })
          .catch(() => undefined);
      await c.thread.stop();
    } finally {
      this.forget(c);
      this.endMemoryOp();
    }
  }

  /**
   * Gives up on a load still in progress (it took too long): it serves nothing, and its
   * thread ends once the framework returns (terminating it in the middle of a native
   * call would abort the process). Resolves when the thread is gone.
   */
  async abandon(copy: number, done: Promise<unknown>): Promise<void> {
    const c = this.byId.get(copy);
    if (!c) return;
    this.forget(c);
    this.abandoned.add(c.thread);
    this.beginMemoryOp();
    try {
      const loaded = await done.then(
        () => true,
        () => false,
      );
      if (loaded && !c.thread.gone)
        await c.thread
          .call({ op: 'unload', key: c.key })
          .catch(() => undefined);
      await c.thread.stop();
    } finally {
      this.abandoned.delete(c.thread);
      this.endMemoryOp();
    }
  }

  /**
   * Runs `key` on a free copy of it once a compute slot is free. MODEL_NOT_LOADED when
   * it has no copy (or loses its last one while the run waits).
   */
  run(
    key: string,
    inputs: Record<string, Tensor>,
    outputs: readonly string[] | undefined,
    batch: number,
  ): Promise<RunResult> {
    if (!this.hasServingCopy(key)) return Promise.reject(this.notLoaded(key));
    return new Promise<RunResult>((resolve, reject) => {
      const job: Job = {
        seq: this.nextJob++,
        key,
        inputs,
        outputs,
        batch,
        retried: false,
        resolve,
        reject,
      };
      this.enqueue(job);
      this.dispatch();
    });
  }

  /**
   * Waits for queued runs (at most `graceMs`), then stops every thread once its calls
   * in flight have settled (see WorkerThread.stop).
   */
  async close(graceMs = 30_000): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.queues.size > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    this.closing = true;
    const left = Math.max(0, deadline - Date.now());
    const threads = [
      ...[...this.byId.values()].map((c) => c.thread),
      ...this.abandoned,
      ...(this.spare ? [this.spare] : []),
    ];
    await Promise.all(threads.map((t) => t.stop(left)));
  }

  private enqueue(job: Job): void {
    const queue = this.queues.get(job.key);
    if (queue) queue.jobs.push(job);
    else this.queues.set(job.key, { jobs: [job], blockedSince: null });
  }

  /** Starts queued runs, oldest first, on free copies while compute slots are free. */
  private dispatch(): void {
    while (this.slotsFree > 0) {
      let next: { queue: Queue; copy: Copy } | null = null;
      for (const [key, queue] of this.queues) {
        if (next && next.queue.jobs[0].seq < queue.jobs[0].seq) continue;
        const copy = this.freeCopy(key);
        if (copy) next = { queue, copy };
        else queue.blockedSince ??= performance.now();
      }
      if (!next) return;
      const { queue, copy } = next;
      const job = queue.jobs.shift() as Job;
      if (queue.blockedSince !== null) {
        this.statsFor(job.key).copyWaitMs +=
          performance.now() - queue.blockedSince;
        queue.blockedSince = null;
      }
      if (queue.jobs.length === 0) this.queues.delete(job.key);
      this.start(job, copy);
    }
  }

  private start(job: Job, copy: Copy): void {
    this.slotsFree--;
    copy.busy = true;
    const stats = this.statsFor(job.key);
    const began = performance.now();
    // A run at a batch larger than any this copy ran may grow its arena; measured when
    // nothing else changes the process's memory meanwhile (not even another such run).
    const larger = job.batch > copy.maxBatch;
    const probe =
      larger && this.memoryOps === 0 && !this.probing
        ? { epoch: this.memoryEpoch, rss: process.memoryUsage.rss() }
        : null;
    if (probe) this.probing = true;
    else if (larger) this.beginMemoryOp();
    const packed = packForTransfer(job.inputs);
    copy.thread
      .call(
        {
          op: 'run',
          key: job.key,
          inputs: packed.tensors,
          outputs: job.outputs,
        },
        [packed.buffer],
      )
      .then((reply) => {
        if (reply.op !== 'run') throw new Error('unexpected worker reply');
        const result: RunResult = {
          outputs: reply.outputs,
          computeMs: reply.computeMs,
          startedAt: reply.startedAt,
          copy: copy.id,
        };
        if (probe && probe.epoch === this.memoryEpoch) {
          result.arena = {
            batch: job.batch,
            grewBytes: process.memoryUsage.rss() - probe.rss,
          };
          copy.maxBatch = job.batch;
        }
        return result;
      })
      .then(
        (result) => job.resolve(result),
        (e: unknown) => {
          // The copy's thread died under the run: another copy may take it, once.
          if (
            copy.thread.gone &&
            !job.retried &&
            this.hasServingCopy(job.key)
          ) {
            job.retried = true;
            this.enqueue(job);
          } else job.reject(e instanceof Error ? e : new Error(String(e)));
        },
      )
      .finally(() => {
        if (probe) this.probing = false;
        else if (larger) this.endMemoryOp();
        stats.busyMs += performance.now() - began;
        copy.lastRunAt = performance.now();
        copy.busy = false;
        this.slotsFree++;
        if (copy.onIdle) {
          copy.onIdle();
          copy.onIdle = null;
        }
        this.dispatch();
      });
  }

  /** The serving copy of `key` free to run, least recently used first. */
  private freeCopy(key: string): Copy | null {
    let best: Copy | null = null;
    for (const c of this.copies.get(key) ?? [])
      if (
        c.state === 'serving' &&
        !c.busy &&
        (!best || c.lastRunAt < best.lastRunAt)
      )
        best = c;
    return best;
  }

  private hasServingCopy(key: string): boolean {
    return (this.copies.get(key) ?? []).some((c) => c.state === 'serving');
  }

  private statsFor(key: string): CopyStats {
    let stats = this.stats.get(key);
    if (!stats) {
      stats = { busyMs: 0, copyWaitMs: 0 };
      this.stats.set(key, stats);
    }
    return stats;
  }

  /** Drops a copy from the books; false when it was not there any more. */
  private forget(copy: Copy): boolean {
    if (!this.byId.delete(copy.id)) return false;
    const rest = (this.copies.get(copy.key) ?? []).filter((c) => c !== copy);
    if (rest.length > 0) this.copies.set(copy.key, rest);
    else {
      this.copies.delete(copy.key);
      this.stats.delete(copy.key);
    }
    if (!this.hasServingCopy(copy.key)) this.failQueued(copy.key);
    return true;
  }

  /** Runs waiting for a model that has no copy left to serve them. */
  private failQueued(key: string): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    this.queues.delete(key);
    for (const job of queue.jobs) job.reject(this.notLoaded(key));
  }

  private notLoaded(key: string): PortfolioError {
    return new PortfolioError(
      'MODEL_NOT_LOADED',
      `${key} is not loaded on this runtime`,
    );
  }

  private beginMemoryOp(): void {
    this.memoryOps++;
    this.memoryEpoch++;
  }

  private endMemoryOp(): void {
    this.memoryOps--;
    this.memoryEpoch++;
  }

  private spawn(): WorkerThread {
    const thread: WorkerThread = new WorkerThread(
      this.nextThread++,
      this.script,
      (reason, detail) => this.lost(thread, reason, detail),
    );
    return thread;
  }

  private lost(thread: WorkerThread, reason: string, detail?: string): void {
    if (this.spare === thread) this.spare = null;
    const copy = [...this.byId.values()].find((c) => c.thread === thread);
    if (this.closing) return;
    if (!copy || copy.state !== 'serving') {
      // A spare, a load (whose caller gets the error) or a release: nothing served is lost.
      if (!copy) this.logger.warn(`${reason}${detail ? `\n${detail}` : ''}`);
      return;
    }
    this.forget(copy);
    const remaining = this.serving(copy.key);
    this.logger.error(
      `${reason}; lost its copy of ${copy.key} (${remaining} left)${detail ? `\n${detail}` : ''}`,
    );
    this.options.onCopyLost({
      key: copy.key,
      copy: copy.id,
      reason,
      remaining,
    });
  }
}
