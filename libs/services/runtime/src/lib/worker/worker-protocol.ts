import type {
  EngineSettings,
  ErrorCode,
  ModelFormat,
  Processing,
  Signature,
} from '@portfolio/contracts';
import type { Tensor } from '@portfolio/tensor';

/** Messages between the runtime's main thread and its inference workers. */
export type WorkerRequest =
  | {
      id: number;
      op: 'load';
      key: string;
      format: ModelFormat;
      path: string;
      intraOpThreads: number;
      /** The batch of the warm-up run (variable leading dimension); 1 where it fails. */
      warmupBatch: number;
      /** The model's engine settings; absent: the backend's defaults. */
      engine?: EngineSettings;
      /** The model's pre- and post-processing; absent: none. */
      processing?: Processing;
    }
  | {
      id: number;
      op: 'run';
      key: string;
      inputs: Record<string, Tensor>;
      outputs?: readonly string[];
    }
  | { id: number; op: 'unload'; key: string };

export type WorkerReply =
  | {
      id: number;
      ok: true;
      op: 'load';
      signature: Signature;
      warmupMs: number | null;
      /** The batch the warm-up ran at; null: no warm-up ran (or the model was already here). */
      warmupBatch: number | null;
      /**
       * RSS this load spent warming up its format's framework, the first load of that
       * format on this thread: the thread's memory (base), not the model's.
       */
      frameworkBytes: number;
      /** Memory the model holds outside this process (LoadedModel.externalBytes). */
      externalBytes: number;
    }
  | {
      id: number;
      ok: true;
      op: 'run';
      outputs: Record<string, Tensor>;
      computeMs: number;
      /**
       * When the run began, in ms since the epoch (performance.timeOrigin + now()): a clock
       * every thread shares, so runs on different workers can be ordered.
       */
      startedAt: number;
    }
  | { id: number; ok: true; op: 'unload' }
  | {
      id: number;
      ok: false;
      /** `message` may reach clients; `detail`, the framework's own words, only the logs. */
      error: { code: ErrorCode; message: string; detail?: string };
    };

/** Sent once, before any reply: the worker has warmed up its backends (or failed to). */
export type WorkerReady = { ready: true } | { ready: false; error: string };
