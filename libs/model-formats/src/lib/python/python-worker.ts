import { ChildProcess, spawn } from 'node:child_process';

import { PortfolioError, Signature } from '@portfolio/contracts';
import {
  allocateNumeric,
  Datatype,
  NumericDatatype,
  Tensor,
  TensorData,
} from '@portfolio/tensor';

import { EngineError, scrubEngineMessage } from '../engine-message';
import type { LoadedModel } from '../model-backend';
import { pythonInterpreter } from './python-availability';
import { PYTHON_WORKER_SOURCE } from './python-worker.source';

/**
 * The bridge to the Python worker process that runs the Python formats (pytorch,
 * sklearn) for one inference thread: PyTorch and scikit-learn have no Node binding, so
 * their models live in a child process, and their memory is that process's (reported
 * as LoadedModel.externalBytes, measured by the child as its RSS delta around the load).
 *
 * One process per worker thread that holds Python models (this module's state is per
 * thread: each worker thread loads its own copy), spawned on the first load (or
 * warmUp), ended when the last of its models is released so that the memory returns to
 * the machine. If it dies (a crash, the OOM killer), the requests it had fail with
 * SERVICE_UNAVAILABLE; the next request starts a new process that reloads every model
 * the thread still holds, so LoadedModel objects keep working.
 *
 * Frames: see python-worker.source.ts.
 */

export type PythonModelKind = 'torchscript' | 'state_dict' | 'sklearn';

interface WireTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  bytes?: number;
  strings?: string[];
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  input?: boolean;
  tensors?: WireTensor[];
  [key: string]: unknown;
}

/** A worker's error reply: Python refused the request, the worker lives on. */
class WorkerRefusal extends Error {
  constructor(
    message: string,
    readonly input: boolean,
  ) {
    super(message);
  }
}

/** How long an unused process (warmed up, no model loaded) waits before it ends. */
const IDLE_END_MS = 60_000;
/** How long an ended process may take to exit before it is killed. */
const EXIT_GRACE_MS = 5_000;

let nextRequestId = 0;

/** Splits the child's stdout into frames (header + the bytes of its tensors). */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: Reply | null = null;
  private payloadLength = 0;

  constructor(
    private readonly onFrame: (header: Reply, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (!this.header) {
        if (this.buffered < 4) return;
        const length = this.peek(4).readUInt32BE(0);
        if (this.buffered < 4 + length) return;
        this.take(4);
        this.header = JSON.parse(this.take(length).toString('utf8')) as Reply;
        this.payloadLength = (this.header.tensors ?? []).reduce(
          (sum, t) => sum + (t.bytes ?? 0),
          0,
        );
      }
      if (this.buffered < this.payloadLength) return;
      const payload = this.take(this.payloadLength);
      const header = this.header;
      this.header = null;
      this.onFrame(header, payload);
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const out = this.peek(n);
    const first = this.chunks[0];
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

type Pending = {
  resolve: (r: { reply: Reply; payload: Buffer }) => void;
  reject: (e: Error) => void;
};

/** One spawned Python worker. */
class PythonProcess {
  readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';
  exited = false;
  readonly exit: Promise<void>;
  private markExited!: () => void;

  constructor(
    python: string,
    readonly generation: number,
    private readonly onExit: (p: PythonProcess, why: string) => void,
  ) {
    this.exit = new Promise((resolve) => (this.markExited = resolve));
    this.child = spawn(python, ['-u', '-c', PYTHON_WORKER_SOURCE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const reader = new FrameReader((reply, payload) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      this.updateRef();
      if (reply.ok) waiting.resolve({ reply, payload });
      else
        waiting.reject(
          new WorkerRefusal(reply.error ?? 'unknown error', !!reply.input),
        );
    });
    this.child.stdout?.on('data', (chunk: Buffer) => reader.push(chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      // Python's tracebacks and warnings; the last of them say why it died.
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    // EPIPE once the child is gone: 'close' says so, with the reason.
    this.child.stdin?.on('error', () => undefined);
    this.child.on('error', (e) => {
      if (this.child.pid === undefined)
        this.fail(`could not start (${e.message})`);
    });
    // 'close', not 'exit': the replies it wrote before dying are read first.
    this.child.on('close', (code, signal) =>
      this.fail(
        signal ? `was killed by ${signal}` : `exited with code ${code}`,
      ),
    );
    this.updateRef();
  }

  /** Sends a request; resolves with its reply, rejects with a WorkerRefusal or SERVICE_UNAVAILABLE. */
  request(
    header: Record<string, unknown>,
    blobs: readonly Buffer[] = [],
  ): Promise<{ reply: Reply; payload: Buffer }> {
    if (this.exited)
      return Promise.reject(unavailable('had ended before the request'));
    const id = ++nextRequestId;
    const raw = Buffer.from(JSON.stringify({ ...header, id }), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(raw.length, 0);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRef();
      const stdin = this.child.stdin;
      if (!stdin) return;
      stdin.cork();
      stdin.write(length);
      stdin.write(raw);
      for (const blob of blobs) stdin.write(blob);
      stdin.uncork();
    });
  }

  /** Closes its stdin (the worker exits when it reads the end), killing it if it lingers. */
  async end(): Promise<void> {
    if (!this.exited) {
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), EXIT_GRACE_MS);
      await this.exit;
      clearTimeout(timer);
    }
  }

  get lastErrors(): string {
    return this.stderrTail;
  }

  private fail(why: string): void {
    if (this.exited) return;
    this.exited = true;
    const error = unavailable(why);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.onExit(this, why);
    this.markExited();
  }

  /** A worker that waits for nothing does not keep the Node process alive. */
  private updateRef(): void {
    const busy = this.pending.size > 0;
    for (const handle of [
      this.child,
      this.child.stdout,
      this.child.stderr,
      this.child.stdin,
    ] as unknown as ({ ref?(): void; unref?(): void } | null)[]) {
      if (busy) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}

function unavailable(why: string): PortfolioError {
  return new PortfolioError(
    'SERVICE_UNAVAILABLE',
    `the Python worker process of this runtime ${why} before answering; it restarts and reloads its models on the next request`,
  );
}

interface HeldModel {
  readonly kind: PythonModelKind;
  readonly path: string;
  readonly threads: number;
  handle: number | null;
  generation: number;
  released: boolean;
}

export class PythonWorker {
  private process: PythonProcess | null = null;
  private starting: Promise<PythonProcess> | null = null;
  private generation = 0;
  private readonly held = new Set<HeldModel>();
  private loading = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  /** The live worker process's pid, if one runs (tests kill it to check recovery). */
  get pid(): number | undefined {
    return this.process && !this.process.exited
      ? this.process.child.pid
      : undefined;
  }

  /** How many models this thread holds in the worker. */
  get modelCount(): number {
    return this.held.size;
  }

  /**
   * Starts the process (about a second or more: the frameworks' imports) and imports
   * `frameworks` ('torch', 'sklearn') in it, so that the first load measures the
   * model alone. An unused process ends after a minute.
   */
  async warmUp(frameworks: readonly string[]): Promise<void> {
    const p = await this.ensure();
    await this.call(p, 'load', { op: 'ping', frameworks });
    this.scheduleIdleEnd();
  }

  async load(
    kind: PythonModelKind,
    path: string,
    threads: number,
  ): Promise<LoadedModel> {
    this.loading++;
    this.cancelIdleEnd();
    try {
      const p = await this.ensure();
      const { reply } = await this.call(p, 'load', {
        op: 'load',
        kind,
        path,
        threads,
      });
      const model: HeldModel = {
        kind,
        path,
        threads,
        handle: reply['handle'] as number,
        generation: p.generation,
        released: false,
      };
      this.held.add(model);
      return {
        signature: reply['signature'] as Signature,
        externalBytes: Math.max(0, Number(reply['rss_delta']) || 0),
        run: (inputs, outputNames) => this.run(model, inputs, outputNames),
        release: () => this.release(model),
      };
    } finally {
      this.loading--;
      if (this.held.size === 0 && this.loading === 0) this.scheduleIdleEnd();
    }
  }

  private async run(
    model: HeldModel,
    inputs: Readonly<Record<string, Tensor>>,
    outputNames?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (model.released)
      throw new Error('the model was released; it cannot run');
    const p = await this.ensure();
    if (model.handle === null || model.generation !== p.generation) {
      try {
        await this.reload(p, model);
      } catch (e) {
        if (e instanceof EngineError)
          throw new PortfolioError(
            'SERVICE_UNAVAILABLE',
            `the Python worker restarted and could not reload the model: ${e.message}`,
          );
        throw e;
      }
    }
    const specs: WireTensor[] = [];
    const blobs: Buffer[] = [];
    for (const [name, t] of Object.entries(inputs)) {
      if (t.datatype === 'BYTES') {
        specs.push({
          name,
          datatype: t.datatype,
          shape: [...t.shape],
          strings: [...(t.data as string[])],
        });
      } else {
        const data = t.data as Exclude<TensorData, string[]>;
        const blob = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        specs.push({
          name,
          datatype: t.datatype,
          shape: [...t.shape],
          bytes: blob.length,
        });
        blobs.push(blob);
      }
    }
    const { reply, payload } = await this.call(
      p,
      'run',
      {
        op: 'run',
        handle: model.handle,
        tensors: specs,
        ...(outputNames?.length ? { outputs: [...outputNames] } : {}),
      },
      blobs,
    );
    return decodeTensors(reply.tensors ?? [], payload);
  }

  private async release(model: HeldModel): Promise<void> {
    if (model.released) return;
    model.released = true;
    this.held.delete(model);
    const p = this.process;
    if (
      p &&
      !p.exited &&
      model.handle !== null &&
      model.generation === p.generation
    ) {
      try {
        await p.request({ op: 'unload', handle: model.handle });
      } catch {
        // A dead worker holds nothing any more.
      }
    }
    if (this.held.size === 0 && this.loading === 0) await this.endProcess();
  }

  private async reload(p: PythonProcess, model: HeldModel): Promise<void> {
    model.handle = null;
    const { reply } = await this.call(p, 'load', {
      op: 'load',
      kind: model.kind,
      path: model.path,
      threads: model.threads,
    });
    model.handle = reply['handle'] as number;
    model.generation = p.generation;
  }

  /** A request whose refusal becomes the error a client reads. */
  private async call(
    p: PythonProcess,
    stage: 'load' | 'run',
    header: Record<string, unknown>,
    blobs: readonly Buffer[] = [],
  ): Promise<{ reply: Reply; payload: Buffer }> {
    try {
      return await p.request(header, blobs);
    } catch (e) {
      if (!(e instanceof WorkerRefusal)) throw e;
      if (e.input && stage === 'run')
        throw new PortfolioError(
          'INVALID_INPUT',
          scrubEngineMessage(e.message),
        );
      throw new EngineError(
        stage,
        `${stage === 'load' ? 'the Python worker could not load the model' : 'the model failed'}: ${scrubEngineMessage(e.message)}`,
        e.message,
      );
    }
  }

  private ensure(): Promise<PythonProcess> {
    if (this.process && !this.process.exited)
      return Promise.resolve(this.process);
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  /** A new process, with every model this thread holds loaded again. */
  private async start(): Promise<PythonProcess> {
    const p = new PythonProcess(
      pythonInterpreter(),
      ++this.generation,
      (dead) => {
        if (this.process === dead) this.process = null;
      },
    );
    await p.request({ op: 'ping' });
    this.process = p;
    for (const model of this.held) {
      try {
        await this.reload(p, model);
      } catch {
        // Retried on the model's next run, which reports why it fails.
      }
    }
    return p;
  }

  private async endProcess(): Promise<void> {
    this.cancelIdleEnd();
    const p = this.process;
    this.process = null;
    if (p) await p.end();
  }

  private scheduleIdleEnd(): void {
    this.cancelIdleEnd();
    this.idleTimer = setTimeout(() => {
      if (this.held.size === 0 && this.loading === 0) void this.endProcess();
    }, IDLE_END_MS);
    this.idleTimer.unref();
  }

  private cancelIdleEnd(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

function decodeTensors(
  specs: readonly WireTensor[],
  payload: Buffer,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  let offset = 0;
  for (const spec of specs) {
    if (spec.datatype === 'BYTES') {
      out[spec.name] = {
        datatype: 'BYTES',
        shape: spec.shape,
        data: spec.strings ?? [],
      };
      continue;
    }
    const bytes = spec.bytes ?? 0;
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const data = allocateNumeric(spec.datatype as NumericDatatype, count);
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(
      payload.subarray(offset, offset + bytes),
    );
    offset += bytes;
    out[spec.name] = { datatype: spec.datatype, shape: spec.shape, data };
  }
  return out;
}

let shared: PythonWorker | null = null;

/** This thread's Python worker (see PythonWorker). */
export function sharedPythonWorker(): PythonWorker {
  shared ??= new PythonWorker();
  return shared;
}
