import { Logger } from '@nestjs/common';

import {
  EngineSettings,
  ModelFormat,
  PortfolioError,
  Processing,
  Signature,
} from '@portfolio/contracts';
import { Tensor } from '@portfolio/tensor';
import { createBackend, warmupInputs } from '@portfolio/model-formats';

import { InferenceEngine } from './inference-engine';
import { MainThreadLoad } from './main-thread-load';
import {
  BatchPolicy,
  mergeable,
  mergeInputs,
  mergeKey,
  rowsOf,
  splitOutputs,
} from './run-merge';
import { packForTransfer, transferList } from './transfer.util';
import { replyError, WorkerScript, WorkerThread } from './worker-thread';

export type { WorkerScript } from './worker-thread';
export type { BatchPolicy } from './run-merge';

export interface LoadResult {
  signature: Signature;
  warmupMs: number | null;
  /** The batch the warm-up ran at (null: none ran). */
  warmupBatch: number | null;
  /** See the worker's load reply: the thread's framework cost, and memory held elsewhere. */
  frameworkBytes: number;
  externalBytes: number;
}

export interface RunResult {
  outputs: Record<string, Tensor>;
  computeMs: number;
  /**
   * How long it waited for a copy and a compute slot (and for runs to merge with) before
   * its run began; 0 when its inline twin ran it.
   */
  queueMs: number;
  /** When the run began in its worker, in ms since the epoch (a clock all threads share). */
  startedAt: number;
  /** The copy that ran it. */
  copy: number;
  /** Set when its inline twin ran it, on the main thread (see InlineTwin). */
  inline?: true;
  /**
   * Set when it ran merged with other runs of its model (see WorkerPool.dispatch): how
   * many runs and rows the engine ran as one, and how long that took. `computeMs` is
   * then this run's share of the merged run's, by rows.
   */
  merged?: { runs: number; rows: number; computeMs: number };
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

/** Where a copy goes (see WorkerPool). */
export interface Placement {
  /** It may share a thread with other small models. */
  readonly shared: boolean;
  /** What it is expected to take, against a shared thread's room. */
  readonly bytes: number;
}

export interface WorkerPoolOptions {
  /**
   * Runs at once, over all models (each on its copy's thread): with `intraOpThreads`
   * threads a run, the threads busy computing stay at most computeSlots x
   * intraOpThreads, which the operator sizes to the cores.
   */
  readonly computeSlots: number;
  /** What the small models sharing one thread may take together. */
  readonly sharedThreadBytes: number;
  /** A serving copy's thread ended without being asked to. */
  readonly onCopyLost: (loss: CopyLoss) => void;
  /**
   * Called as each engine run begins (inline ones too): the model's key, how many runs
   * it merged (1: alone), and its rows. For the batch size metrics.
   */
  readonly onRun?: (key: string, runs: number, rows: number) => void;
  /**
   * Which models also run on the main thread (see InlineTwin); absent: none. A model
   * qualifies when it is expected to take at most `maxBytes` and a run at its warm-up's
   * batch, once warm, takes at most `maxRunMs` there.
   */
  readonly inline?: {
    readonly maxBytes: number;
    readonly maxRunMs: number;
    /**
     * Twins run only while the main thread's event loop was busy at most this share of
     * its last LOOP_WINDOW_MS. Default INLINE_MAX_LOOP_UTILIZATION.
     */
    readonly maxLoopUtilization?: number;
  };
  /**
   * How runs of a model whose load names no policy are merged (see run-merge.ts);
   * absent: they are not.
   */
  readonly batching?: BatchPolicy;
}

/**
 * A model whose first run on its worker took more than this many times the inline run
 * time allowed is not tried on the main thread (a first run allocates and is slower
 * than the next, and a busy machine slows it more, but not by this much): the twin's
 * own first run would hold up the event loop.
 */
const FIRST_RUN_FACTOR = 50;
/**
 * Runs timed to measure a twin once warm (see hotRunMs): the fastest of them is what a
 * run costs; on a busy machine most of three could be slowed down, and a model would
 * miss its twin for good.
 */
const HOT_RUNS = 10;

/**
 * A model small and fast enough that a run costs less than the hop to a worker thread
 * and back (two wake-ups and a message each way: the standalone app's p50 at one
 * connection fell from about 340 to about 200 us without it, on a 2-core VM, for a
 * model that runs in 8 us) also gets an engine session on the main
 * thread, loaded right after its first copy and released with it. A run goes there
 * when its batch is at most the warm-up's (at which its time was measured, so what it
 * holds up the event loop for is about `maxRunMs` at most), no run of the model waits in
 * the queue or runs on a worker, the twin is idle and the event loop has not been busy
 * lately (see INLINE_MAX_LOOP_UTILIZATION); otherwise to a worker copy as usual. (Runs
 * that find the twin busy do not wait for it: when the main thread is what saturates, a
 * worker runs the model on another core for less of the main thread's time than the
 * run itself takes there: measured on a 4-16-3 MLP, about 25 us a run on the main
 * thread of a busy server against about 16 us for posting it to a worker, less when
 * runs are merged.) Inline runs take no compute slot: they run on the thread that would
 * otherwise only wait for them.
 */
interface InlineTwin {
  /** The copy it was loaded with, whose memory measurement includes it. */
  readonly copy: number;
  /** The largest batch it runs: its warm-up's. */
  readonly batch: number;
  /** The run in progress (a release waits for it); null when it is idle. */
  running: Promise<unknown> | null;
}

/**
 * Twins run only while the main thread's event loop was busy at most this share of the
 * last LOOP_WINDOW_MS (or more). A run inline saves the hop's latency; but when the main
 * thread is what limits throughput (HTTP, JSON, the bus), a worker running the model,
 * merged with the other runs waiting (see WorkerPool.dispatch), costs it less. Measured
 * in the standalone app on a 4-16-3 MLP (2-core VM): its loop is 0.75-0.85 busy serving
 * one connection at a time, 0.87-0.99 at 32; at 32 connections it answered 13-14k
 * predictions a second with every run it could take inline, 16.5k with this bound.
 */
const INLINE_MAX_LOOP_UTILIZATION = 0.85;
const LOOP_WINDOW_MS = 20;

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

/** A worker thread and the copies it holds. */
interface Host {
  readonly thread: WorkerThread;
  /** The spare holds nothing yet; `own`: one large model's copy; `shared`: small ones. */
  kind: 'spare' | 'own' | 'shared';
  readonly copies: Set<Copy>;
  /** A run, load or release is under way: it is one thread, one thing at a time. */
  busy: boolean;
  /** Loads and releases waiting for it; they go before queued runs. */
  readonly waiting: (() => void)[];
  lastRunAt: number;
  /** Loads it has taken, for how long it may be reused (see MAX_LOADS_PER_THREAD). */
  loads: number;
}

interface Copy {
  readonly id: number;
  readonly key: string;
  readonly host: Host;
  readonly bytes: number;
  state: CopyState;
  /** The largest batch it has run (its warm-up's to begin with). */
  maxBatch: number;
}

/**
 * A thread whose models are all released becomes the spare (when there is none), which
 * saves starting one (about 60 ms of a core) for the next load. After this many loads it
 * ends instead: what a thread keeps of each (V8's heap, about 0.15 MiB a load/unload,
 * measured) stays bounded.
 */
const MAX_LOADS_PER_THREAD = 32;

/** A model's runs waiting, oldest first. */
interface Queue {
  jobs: Job[];
  /** Since when its head has waited for a copy of it while a compute slot was free. */
  blockedSince: number | null;
  /** Set while its head is held back for others to join it (BatchPolicy.maxQueueDelayMs). */
  timer: NodeJS.Timeout | null;
}

interface Job {
  readonly seq: number;
  readonly key: string;
  readonly inputs: Record<string, Tensor>;
  readonly outputs?: readonly string[];
  readonly batch: number;
  /** performance.now() when it was queued. */
  readonly queuedAt: number;
  /** performance.now() past which nobody waits for it any more: it is dropped, not run. */
  readonly deadline: number;
  retried: boolean;
  /** Never merged: it was in a merged run that failed, and runs again on its own. */
  alone: boolean;
  /** What it must share with runs it is merged with (run-merge.ts's mergeKey), once asked. */
  mergeKey?: string;
  resolve(result: RunResult): void;
  reject(error: Error): void;
}

/**
 * How far down a model's queue runs are looked for to merge with its head: bounds what
 * one dispatch costs when many runs that cannot be merged wait.
 */
const MERGE_SCAN = 256;

/**
 * The runtime's worker threads. One warmed-up thread (the spare) waits for the next
 * load (a thread emptied by unloads becomes it, a new one starts otherwise). A large model's copy takes the spare and keeps that thread to itself; small
 * models share threads (up to `sharedThreadBytes` each; a small model's load goes to
 * the shared thread whose models ran least recently, or to the spare). So:
 * - a large model loads on a thread that serves nothing yet, and unloads on one that
 *   serves only it: neither ever holds up runs of other models. A small model's load
 *   or unload holds up the small models of its thread for as long as it takes (a few
 *   ms): the price of not paying a thread (about 17 MiB) for each small model;
 * - a busy model may have several copies, on different threads; its runs go to
 *   whichever is free;
 * - a thread that dies loses only the copies it held (a run on it is retried once on
 *   another copy; a model is reported lost when none is left).
 * Runs wait in per-model queues for a free copy and a free compute slot. Loads, releases
 * and spawns change the process's memory: the host serializes them (see
 * ModelHostService) so that it can measure each; the pool counts them so that a run's
 * RSS change is attributed to its arena only when nothing else was going on.
 */
export class WorkerPool {
  private readonly logger = new Logger('WorkerPool');
  private readonly hosts = new Set<Host>();
  private readonly copies = new Map<string, Copy[]>();
  private readonly byId = new Map<number, Copy>();
  private readonly queues = new Map<string, Queue>();
  private readonly stats = new Map<string, CopyStats>();
  private spare: Host | null;
  private slotsFree: number;
  private nextThread = 0;
  private nextCopy = 1;
  private nextJob = 1;
  private memoryOps = 0;
  private memoryEpoch = 0;
  private probing = false;
  private closing = false;
  /** The main thread's engine, once a model qualified for an inline twin. */
  private inlineEngine: Promise<InferenceEngine> | null = null;
  private readonly twins = new Map<string, InlineTwin>();
  private readonly mainLoad = new MainThreadLoad(LOOP_WINDOW_MS);
  /** Runs in flight on worker threads, by model. */
  private readonly running = new Map<string, number>();
  /** Models whose runs are merged, and how (set by their first copy's load). */
  private readonly policies = new Map<string, BatchPolicy>();

  constructor(
    private readonly script: WorkerScript,
    private readonly options: WorkerPoolOptions,
  ) {
    this.slotsFree = options.computeSlots;
    this.spare = this.spawn();
  }

  /**
   * Resolves once the spare thread has warmed up (rejects if it could not), and the
   * main thread's engine too where models may run there: its fixed costs belong in the
   * process's base, not in the first inline model's measurement.
   */
  async ready(): Promise<void> {
    await this.spare?.thread.ready;
    if (this.options.inline && this.options.inline.maxBytes > 0)
      await this.mainEngine().catch(() => undefined);
  }

  /** Threads alive: holding copies (loaded, loading or abandoned), and the spare. */
  get threads(): number {
    return this.hosts.size;
  }

  /** Threads that hold copies (every thread but the spare). */
  get threadsInUse(): number {
    let n = 0;
    for (const h of this.hosts) if (h.kind !== 'spare') n++;
    return n;
  }

  /** Copies of `key` that serve runs. */
  serving(key: string): number {
    return (this.copies.get(key) ?? []).filter((c) => c.state === 'serving')
      .length;
  }

  statsOf(key: string): CopyStats {
    return { ...(this.stats.get(key) ?? { busyMs: 0, copyWaitMs: 0 }) };
  }

  /** Whether the thread of a copy is busy (a run, load or release). */
  copyBusy(copy: number): boolean {
    return this.byId.get(copy)?.host.busy ?? false;
  }

  /** Whether a load placed so would take the spare thread (a thread more in use). */
  takesSpare(key: string, placement: Placement): boolean {
    return !placement.shared || this.sharedHostFor(key, placement) === null;
  }

  /**
   * Makes sure a warmed-up spare thread is there, spawning one if not; true when it
   * spawned one. Spawning changes the process's memory (about 17 MiB): the host calls
   * this under its memory lock.
   */
  async ensureSpare(): Promise<boolean> {
    if (this.spare && !this.spare.thread.gone) {
      await this.spare.thread.ready;
      return false;
    }
    const spare = this.spawn();
    this.spare = spare;
    this.beginMemoryOp();
    try {
      await spare.thread.ready;
      return true;
    } catch (e) {
      if (this.spare === spare) this.spare = null;
      this.hosts.delete(spare);
      await spare.thread.stop(0);
      throw e;
    } finally {
      this.endMemoryOp();
    }
  }

  /**
   * Loads a copy of `key`: on a shared thread with room when `placement.shared`, else
   * on the spare thread (see ensureSpare), which becomes the copy's. The copy serves
   * once activated. `done` fails with the load's error (a spare it took is kept as the
   * spare, or stopped when there is one already).
   */
  load(
    key: string,
    format: ModelFormat,
    path: string,
    intraOpThreads: number,
    warmupBatch: number,
    placement: Placement,
    batching: BatchPolicy | undefined = this.options.batching,
    engine?: EngineSettings,
    processing?: Processing,
  ): { copy: number; done: Promise<LoadResult> } {
    let host = placement.shared ? this.sharedHostFor(key, placement) : null;
    if (!host) {
      const spare = this.spare;
      if (!spare || spare.thread.gone)
        throw new PortfolioError(
          'INTERNAL',
          `no worker thread is ready to load ${key}`,
        );
      this.spare = null;
      spare.kind = placement.shared ? 'shared' : 'own';
      host = spare;
    }
    const copy: Copy = {
      id: this.nextCopy++,
      key,
      host,
      bytes: placement.bytes,
      state: 'loading',
      maxBatch: 1,
    };
    host.copies.add(copy);
    host.loads++;
    this.byId.set(copy.id, copy);
    this.copies.set(key, [...(this.copies.get(key) ?? []), copy]);
    this.beginMemoryOp();
    const on = host;
    const done = this.occupy(on, () =>
      on.thread.call({
        op: 'load',
        key,
        format,
        path,
        intraOpThreads,
        warmupBatch,
        ...(engine ? { engine } : {}),
        ...(processing ? { processing } : {}),
      }),
    )
      .then(
        async (reply): Promise<LoadResult> => {
          if (reply.op !== 'load') throw new Error('unexpected worker reply');
          copy.maxBatch = reply.warmupBatch ?? 1;
          if (
            batching &&
            batching.maxBatch > 1 &&
            !this.policies.has(key) &&
            mergeable(reply.signature)
          )
            this.policies.set(key, batching);
          const inline = this.options.inline;
          if (
            inline &&
            placement.bytes <= inline.maxBytes &&
            reply.warmupMs !== null &&
            reply.warmupBatch !== null &&
            reply.warmupMs <= FIRST_RUN_FACTOR * inline.maxRunMs &&
            !this.twins.has(key) &&
            // Only frameworks the main thread warmed up when it started (see
            // ModelBackend.eager): another would warm up there, blocking the loop,
            // or start a second Python worker for a copy another process holds.
            createBackend(format).eager
          )
            await this.loadTwin(
              copy,
              format,
              path,
              reply.warmupBatch,
              engine,
              processing,
            );
          return {
            signature: reply.signature,
            warmupMs: reply.warmupMs,
            warmupBatch: reply.warmupBatch,
            frameworkBytes: reply.frameworkBytes,
            externalBytes: reply.externalBytes,
          };
        },
        async (e: unknown) => {
          this.forget(copy);
          if (on.copies.size === 0) await this.emptied(on);
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
   * Frees a copy: no new runs go to it, the run in flight on its thread finishes, its
   * model is released; a thread left with nothing becomes the spare if there is none,
   * else it ends (which returns the thread's memory too).
   */
  async release(copy: number): Promise<void> {
    const c = this.byId.get(copy);
    if (!c) return;
    c.state = 'releasing';
    this.beginMemoryOp();
    try {
      await this.releaseTwin(c);
      await this.occupy(c.host, async () => {
        if (!c.host.thread.gone)
          await c.host.thread
            .call({ op: 'unload', key: c.key })
            .catch(() => undefined);
      });
    } finally {
      this.forget(c);
      if (c.host.copies.size === 0) await this.emptied(c.host);
      this.endMemoryOp();
    }
  }

  /**
   * Gives up on a load still in progress (it took too long): it serves nothing, and it
   * is released once the framework returns (terminating a thread in the middle of a
   * native call would abort the process). Resolves when that is done.
   */
  async abandon(copy: number, done: Promise<unknown>): Promise<void> {
    const c = this.byId.get(copy);
    if (!c) return;
    c.state = 'releasing';
    this.beginMemoryOp();
    try {
      await done.catch(() => undefined);
      await this.release(copy);
    } finally {
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
    timeoutMs?: number,
  ): Promise<RunResult> {
    if (!this.hasServingCopy(key)) return Promise.reject(this.notLoaded(key));
    const twin = this.twins.get(key);
    if (
      twin &&
      batch <= twin.batch &&
      !this.queues.has(key) &&
      !this.running.has(key) &&
      !this.policies.get(key)?.maxQueueDelayMs &&
      this.mainLoad.utilization() <=
        (this.options.inline?.maxLoopUtilization ??
          INLINE_MAX_LOOP_UTILIZATION) &&
      this.byId.get(twin.copy)?.state === 'serving' &&
      twin.running === null
    ) {
      this.options.onRun?.(key, 1, batch);
      return this.runInline(key, twin, inputs, outputs);
    }
    return new Promise<RunResult>((resolve, reject) => {
      const job: Job = {
        seq: this.nextJob++,
        key,
        inputs,
        outputs,
        batch,
        queuedAt: performance.now(),
        deadline:
          timeoutMs === undefined ? Infinity : performance.now() + timeoutMs,
        retried: false,
        alone: false,
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
    for (const key of [...this.twins.keys()]) await this.dropTwin(key);
    const left = Math.max(0, deadline - Date.now());
    await Promise.all([...this.hosts].map((h) => h.thread.stop(left)));
    this.hosts.clear();
  }

  /** The shared thread with room for a small model, whose models ran least recently. */
  private sharedHostFor(key: string, placement: Placement): Host | null {
    let best: Host | null = null;
    for (const h of this.hosts) {
      if (h.kind !== 'shared' || h.thread.gone) continue;
      let used = 0;
      let holdsKey = false;
      for (const c of h.copies) {
        used += c.bytes;
        holdsKey ||= c.key === key;
      }
      if (holdsKey || used + placement.bytes > this.options.sharedThreadBytes)
        continue;
      if (!best || h.lastRunAt < best.lastRunAt) best = h;
    }
    return best;
  }

  /**
   * Runs `work` on a host once nothing else runs on it (loads and releases go before
   * queued runs); runs are not dispatched to it meanwhile.
   */
  private async occupy<T>(host: Host, work: () => Promise<T>): Promise<T> {
    if (host.busy)
      await new Promise<void>((resolve) => host.waiting.push(resolve));
    host.busy = true;
    try {
      return await work();
    } finally {
      this.free(host);
    }
  }

  private free(host: Host): void {
    const next = host.waiting.shift();
    if (next) next();
    else {
      host.busy = false;
      this.dispatch();
    }
  }

  private enqueue(job: Job): void {
    const queue = this.queues.get(job.key);
    if (queue) queue.jobs.push(job);
    else
      this.queues.set(job.key, {
        jobs: [job],
        blockedSince: null,
        timer: null,
      });
  }

  /** Runs back in their model's queue, in the order they first came (seq). */
  private requeue(jobs: readonly Job[]): void {
    const key = jobs[0].key;
    const queue = this.queues.get(key);
    if (!queue) {
      this.queues.set(key, {
        jobs: [...jobs],
        blockedSince: null,
        timer: null,
      });
      return;
    }
    queue.jobs = [...jobs, ...queue.jobs].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Starts queued runs, oldest first, on free copies while compute slots are free. A
   * model with a batch policy has the runs waiting behind its oldest that can join it
   * taken along, up to the policy's rows (see takeRuns); with a queue delay, its oldest
   * waits (up to that delay) until that many rows wait.
   */
  private dispatch(): void {
    while (this.slotsFree > 0) {
      let next: { queue: Queue; copy: Copy } | null = null;
      this.dropExpired();
      for (const [key, queue] of this.queues) {
        if (next && next.queue.jobs[0].seq < queue.jobs[0].seq) continue;
        const copy = this.freeCopy(key);
        if (!copy) {
          queue.blockedSince ??= performance.now();
          continue;
        }
        const holdMs = this.holdMs(key, queue);
        if (holdMs > 0) {
          queue.timer ??= setTimeout(() => {
            queue.timer = null;
            this.dispatch();
          }, holdMs);
          continue;
        }
        if (queue.timer !== null) {
          clearTimeout(queue.timer);
          queue.timer = null;
        }
        next = { queue, copy };
      }
      if (!next) return;
      const { queue, copy } = next;
      const key = queue.jobs[0].key;
      const { jobs, rows } = this.takeRuns(queue);
      if (queue.blockedSince !== null) {
        this.statsFor(key).copyWaitMs += performance.now() - queue.blockedSince;
        queue.blockedSince = null;
      }
      if (queue.jobs.length === 0) this.queues.delete(key);
      this.start(jobs, rows, copy);
    }
  }

  /**
   * Rejects, with TIMEOUT, the queued runs whose caller has stopped waiting (their
   * deadline passed while they waited for a copy), so that no copy runs them for nobody.
   */
  private dropExpired(): void {
    const now = performance.now();
    for (const [key, queue] of this.queues) {
      if (!queue.jobs.some((j) => j.deadline < now)) continue;
      const expired = queue.jobs.filter((j) => j.deadline < now);
      queue.jobs = queue.jobs.filter((j) => j.deadline >= now);
      for (const job of expired)
        job.reject(
          new PortfolioError(
            'TIMEOUT',
            `${key} was not run: it waited ${Math.round(now - job.queuedAt)} ms for a copy, past its deadline`,
          ),
        );
      if (queue.jobs.length === 0) {
        if (queue.timer !== null) clearTimeout(queue.timer);
        this.queues.delete(key);
      }
    }
  }

  /**
   * How much longer a model's oldest run is held back for others to join it: while
   * fewer rows than its policy's maxBatch wait and it has waited less than the policy's
   * delay. 0: it goes now.
   */
  private holdMs(key: string, queue: Queue): number {
    const policy = this.policies.get(key);
    if (!policy || policy.maxQueueDelayMs <= 0 || queue.jobs[0].alone) return 0;
    const left =
      policy.maxQueueDelayMs - (performance.now() - queue.jobs[0].queuedAt);
    if (left <= 0) return 0;
    let rows = 0;
    for (const job of queue.jobs) {
      rows += job.batch;
      if (rows >= policy.maxBatch) return 0;
    }
    return left;
  }

  /**
   * The oldest run of a queue and, when its model's runs are merged, the runs behind it
   * that can join it (same merge key, all rows fitting in the policy's maxBatch), in
   * order, with the rows each brings (a run on its own: its batch); they leave the queue.
   */
  private takeRuns(queue: Queue): { jobs: Job[]; rows: number[] } {
    const head = queue.jobs.shift() as Job;
    const policy = this.policies.get(head.key);
    const alone = { jobs: [head], rows: [head.batch] };
    if (!policy || head.alone || queue.jobs.length === 0) return alone;
    const headRows = rowsOf(head.inputs);
    if (headRows === null || headRows >= policy.maxBatch) return alone;
    head.mergeKey ??= mergeKey(head.inputs, head.outputs);
    const taken = [head];
    const takenRows = [headRows];
    const kept: Job[] = [];
    let rows = headRows;
    let i = 0;
    for (; i < queue.jobs.length && i < MERGE_SCAN; i++) {
      const job = queue.jobs[i];
      if (rows >= policy.maxBatch) break;
      const jobRows = job.alone ? null : rowsOf(job.inputs);
      if (jobRows !== null && rows + jobRows <= policy.maxBatch) {
        job.mergeKey ??= mergeKey(job.inputs, job.outputs);
        if (job.mergeKey === head.mergeKey) {
          taken.push(job);
          takenRows.push(jobRows);
          rows += jobRows;
          continue;
        }
      }
      kept.push(job);
    }
    if (taken.length > 1)
      queue.jobs =
        i < queue.jobs.length ? kept.concat(queue.jobs.slice(i)) : kept;
    return taken.length > 1 ? { jobs: taken, rows: takenRows } : alone;
  }

  /** `rows`: what each of `jobs` brings to the run (see takeRuns). */
  private start(jobs: Job[], rows: number[], copy: Copy): void {
    this.slotsFree--;
    const host = copy.host;
    host.busy = true;
    const key = copy.key;
    const stats = this.statsFor(key);
    const began = performance.now();
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    const batch = rows.reduce((a, b) => a + b, 0);
    this.options.onRun?.(key, jobs.length, batch);
    // A run at a batch larger than any this copy ran may grow its arena; measured when
    // nothing else changes the process's memory meanwhile (not even another such run).
    const larger = batch > copy.maxBatch;
    const probe =
      larger && this.memoryOps === 0 && !this.probing
        ? { epoch: this.memoryEpoch, rss: process.memoryUsage.rss() }
        : null;
    if (probe) this.probing = true;
    else if (larger) this.beginMemoryOp();
    // Merged inputs are fresh buffers this thread owns: they are handed over as they
    // are. A single run's may be views into the bus's buffers: copied into one.
    const packed =
      jobs.length === 1
        ? packForTransfer(jobs[0].inputs)
        : (() => {
            const tensors = mergeInputs(jobs.map((j) => j.inputs));
            return { tensors, buffers: transferList(tensors) };
          })();
    host.thread
      .call(
        { op: 'run', key, inputs: packed.tensors, outputs: jobs[0].outputs },
        'buffer' in packed ? [packed.buffer] : packed.buffers,
      )
      .then((reply) => {
        if (reply.op !== 'run') throw new Error('unexpected worker reply');
        let arena: RunResult['arena'];
        if (probe && probe.epoch === this.memoryEpoch) {
          arena = { batch, grewBytes: process.memoryUsage.rss() - probe.rss };
          copy.maxBatch = batch;
        }
        if (jobs.length === 1) {
          const result: RunResult = {
            outputs: reply.outputs,
            computeMs: reply.computeMs,
            queueMs: began - jobs[0].queuedAt,
            startedAt: reply.startedAt,
            copy: copy.id,
          };
          if (arena) result.arena = arena;
          jobs[0].resolve(result);
          return;
        }
        const pieces = splitOutputs(reply.outputs, rows);
        if (!pieces) {
          // Its outputs do not keep the rows apart: never merged again.
          this.policies.delete(key);
          this.logger.warn(
            `${key}: runs are no longer merged (an output's first dimension is not the batch of ${batch} rows its inputs had)`,
          );
          this.requeueAlone(jobs);
          return;
        }
        const merged = {
          runs: jobs.length,
          rows: batch,
          computeMs: reply.computeMs,
        };
        for (let i = 0; i < jobs.length; i++) {
          const result: RunResult = {
            outputs: pieces[i],
            computeMs: (reply.computeMs * rows[i]) / batch,
            queueMs: began - jobs[i].queuedAt,
            startedAt: reply.startedAt,
            copy: copy.id,
            merged,
          };
          // The arena's growth is the model's once, not each run's.
          if (arena && i === 0) result.arena = arena;
          jobs[i].resolve(result);
        }
      })
      .catch((e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        const alive = this.hasServingCopy(key);
        // The copy's thread died under the run: another copy may take it, once.
        if (host.thread.gone) {
          const again = jobs.filter((j) => !j.retried && alive);
          for (const j of jobs)
            if (!again.includes(j)) j.reject(error);
            else j.retried = true;
          if (again.length > 0) this.requeue(again);
        } else if (jobs.length > 1 && alive) {
          // One request's data may be what the engine refused: each runs on its own
          // and gets its own answer.
          this.requeueAlone(jobs);
        } else for (const j of jobs) j.reject(error);
      })
      .finally(() => {
        if (probe) this.probing = false;
        else if (larger) this.endMemoryOp();
        stats.busyMs += performance.now() - began;
        host.lastRunAt = performance.now();
        const left = (this.running.get(key) ?? 1) - 1;
        if (left > 0) this.running.set(key, left);
        else this.running.delete(key);
        this.slotsFree++;
        this.free(host);
      });
  }

  private requeueAlone(jobs: readonly Job[]): void {
    for (const j of jobs) j.alone = true;
    this.requeue(jobs);
  }

  /** A serving copy of `key` whose thread is free, least recently used first. */
  private freeCopy(key: string): Copy | null {
    let best: Copy | null = null;
    for (const c of this.copies.get(key) ?? [])
      if (
        c.state === 'serving' &&
        !c.host.busy &&
        (!best || c.host.lastRunAt < best.host.lastRunAt)
      )
        best = c;
    return best;
  }

  private hasServingCopy(key: string): boolean {
    return (this.copies.get(key) ?? []).some((c) => c.state === 'serving');
  }

  /**
   * Loads the inline twin of a copy just loaded (see InlineTwin), on the main thread,
   * within the copy's load (so its memory is measured with it). A twin that fails to
   * load, or whose own warm-up is slower than allowed, is not kept: the model is
   * served by its worker copies as any other.
   */
  private async loadTwin(
    copy: Copy,
    format: ModelFormat,
    path: string,
    batch: number,
    settings?: EngineSettings,
    processing?: Processing,
  ): Promise<void> {
    const inline = this.options.inline;
    if (!inline) return;
    let engine: InferenceEngine;
    try {
      engine = await this.mainEngine();
    } catch (e) {
      this.logger.warn(
        `no inline copies: the main thread's model backends could not start: ${e instanceof Error ? e.message : String(e)}`,
      );
      return;
    }
    const reply = await engine.reply({
      id: 0,
      op: 'load',
      key: copy.key,
      format,
      path,
      intraOpThreads: 1,
      warmupBatch: batch,
      // The twin runs on the main thread: one intra-op thread, whatever the model asks.
      ...(settings ? { engine: { ...settings, threads: 1 } } : {}),
      ...(processing ? { processing } : {}),
    });
    if (!reply.ok || reply.op !== 'load') {
      this.logger.warn(
        `${copy.key} runs on worker threads only: its inline copy failed to load (${reply.ok ? 'unexpected reply' : reply.error.message})`,
      );
      return;
    }
    const hotMs =
      reply.warmupBatch === batch
        ? await this.hotRunMs(engine, copy.key, reply.signature, batch)
        : null;
    if (hotMs === null || hotMs > inline.maxRunMs) {
      if (hotMs !== null)
        this.logger.log(
          `${copy.key} runs on worker threads only: a run takes ${hotMs.toFixed(3)} ms, more than the ${inline.maxRunMs} ms a run on the main thread may take`,
        );
      await engine.reply({ id: 0, op: 'unload', key: copy.key });
      return;
    }
    this.logger.log(
      `${copy.key} also runs on the main thread, up to batch ${batch} (a run takes ${hotMs.toFixed(3)} ms there)`,
    );
    this.twins.set(copy.key, { copy: copy.id, batch, running: null });
  }

  /**
   * What a run of the twin takes once warm: the fastest of a few at its batch (the
   * first run of a session allocates; a busy machine delays some runs).
   */
  private async hotRunMs(
    engine: InferenceEngine,
    key: string,
    signature: Signature,
    batch: number,
  ): Promise<number | null> {
    const inputs = warmupInputs(signature, batch);
    if (!inputs) return null;
    let best = Infinity;
    for (let i = 0; i < HOT_RUNS; i++) {
      const reply = await engine.reply({ id: 0, op: 'run', key, inputs });
      if (!reply.ok || reply.op !== 'run') return null;
      best = Math.min(best, reply.computeMs);
    }
    return best;
  }

  /** The main thread's engine, its backends warmed up once. */
  private mainEngine(): Promise<InferenceEngine> {
    if (!this.inlineEngine) {
      const engine = new InferenceEngine();
      this.inlineEngine = engine.warmUp().then(() => engine);
      this.inlineEngine.catch(() => (this.inlineEngine = null));
    }
    return this.inlineEngine;
  }

  private runInline(
    key: string,
    twin: InlineTwin,
    inputs: Record<string, Tensor>,
    outputs: readonly string[] | undefined,
  ): Promise<RunResult> {
    const run = (async (): Promise<RunResult> => {
      const began = performance.now();
      try {
        const engine = await this.mainEngine();
        const reply = await engine.reply({
          id: 0,
          op: 'run',
          key,
          inputs,
          outputs,
        });
        if (!reply.ok) throw replyError(reply);
        if (reply.op !== 'run') throw new Error('unexpected inline reply');
        return {
          outputs: reply.outputs,
          computeMs: reply.computeMs,
          queueMs: 0,
          startedAt: reply.startedAt,
          copy: twin.copy,
          inline: true,
        };
      } finally {
        if (this.copies.has(key))
          this.statsFor(key).busyMs += performance.now() - began;
      }
    })();
    twin.running = run;
    const done = () => (twin.running = null);
    run.then(done, done);
    return run;
  }

  /** A copy going away takes its twin along, once the twin's run in flight is over. */
  private async releaseTwin(copy: Copy): Promise<void> {
    if (this.twins.get(copy.key)?.copy !== copy.id) return;
    await this.dropTwin(copy.key);
  }

  private async dropTwin(key: string): Promise<void> {
    const twin = this.twins.get(key);
    if (!twin) return;
    this.twins.delete(key);
    await twin.running?.catch(() => undefined);
    const engine = await this.inlineEngine?.catch(() => null);
    await engine?.reply({ id: 0, op: 'unload', key });
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
    if (this.twins.get(copy.key)?.copy === copy.id)
      void this.dropTwin(copy.key);
    copy.host.copies.delete(copy);
    const rest = (this.copies.get(copy.key) ?? []).filter((c) => c !== copy);
    if (rest.length > 0) this.copies.set(copy.key, rest);
    else {
      this.copies.delete(copy.key);
      this.stats.delete(copy.key);
      this.policies.delete(copy.key);
    }
    if (!this.hasServingCopy(copy.key)) this.failQueued(copy.key);
    return true;
  }

  /** Runs waiting for a model that has no copy left to serve them. */
  private failQueued(key: string): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    this.queues.delete(key);
    if (queue.timer !== null) clearTimeout(queue.timer);
    for (const job of queue.jobs) job.reject(this.notLoaded(key));
  }

  private notLoaded(key: string): PortfolioError {
    return new PortfolioError(
      'MODEL_NOT_LOADED',
      `${key} is not loaded on this runtime`,
    );
  }

  /** A thread that holds nothing any more: the next spare, or gone. */
  private async emptied(host: Host): Promise<void> {
    if (
      !this.spare &&
      !this.closing &&
      !host.thread.gone &&
      host.loads < MAX_LOADS_PER_THREAD
    ) {
      host.kind = 'spare';
      this.spare = host;
      return;
    }
    this.hosts.delete(host);
    await host.thread.stop();
  }

  private beginMemoryOp(): void {
    this.memoryOps++;
    this.memoryEpoch++;
  }

  private endMemoryOp(): void {
    this.memoryOps--;
    this.memoryEpoch++;
  }

  private spawn(): Host {
    const host: Host = {
      thread: new WorkerThread(
        this.nextThread++,
        this.script,
        (reason, detail) => this.lost(host, reason, detail),
      ),
      kind: 'spare',
      copies: new Set(),
      busy: false,
      waiting: [],
      lastRunAt: 0,
      loads: 0,
    };
    this.hosts.add(host);
    return host;
  }

  private lost(host: Host, reason: string, detail?: string): void {
    this.hosts.delete(host);
    if (this.spare === host) this.spare = null;
    if (this.closing) return;
    const serving = [...host.copies].filter((c) => c.state === 'serving');
    // Loads (whose callers get the error) and releases lose nothing served.
    for (const c of host.copies) if (c.state !== 'loading') this.forget(c);
    // Whatever waited for the thread goes on, and finds it gone.
    while (host.waiting.length > 0) this.free(host);
    if (serving.length === 0) {
      this.logger.warn(`${reason}${detail ? `\n${detail}` : ''}`);
      return;
    }
    const keys = serving.map((c) => c.key);
    this.logger.error(
      `${reason}; lost its copies of ${keys.join(', ')}${detail ? `\n${detail}` : ''}`,
    );
    for (const c of serving)
      this.options.onCopyLost({
        key: c.key,
        copy: c.id,
        reason,
        remaining: this.serving(c.key),
      });
  }
}
