import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

import {
  isErrorCode,
  ModelFormat,
  PortfolioError,
  Signature,
} from '@portfolio/contracts';

import { scrubEngineMessage } from '../engine-message';
import type { TrialReply, TrialRequest } from './trial-protocol';

export interface TrialLoadOptions {
  /**
   * The trial script: `trial-load.js` beside an app's main.js (built from
   * trial-load.main.ts); tests compile the source.
   */
  readonly script: string;
  /** A load that takes longer is refused (storage.trial_load.timeout). */
  readonly timeoutMs: number;
  /** A load whose process holds more is refused (storage.trial_load.memory_limit). */
  readonly maxBytes: number;
}

const RSS_POLL_MS = 25;
/** What is kept of the script's output: its reply is one line of JSON. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * Loads the artifact at `path` in a throwaway process, bounded in time and memory, and
 * answers the signature its framework reports. Throws INVALID_ARTIFACT saying why the
 * artifact cannot be served (the framework's reason, a timeout, the memory it took, a
 * crash), or the framework's own code where it gave one (FORMAT_UNAVAILABLE, say), so
 * that `ready` means loadable. The trial's process group is killed at the end, whatever
 * it started (a Python worker, say).
 */
export function trialLoad(
  format: ModelFormat,
  path: string,
  options: TrialLoadOptions,
): Promise<Signature> {
  const request: TrialRequest = { format, path };
  return new Promise<Signature>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [options.script, JSON.stringify(request)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' },
      },
    );
    let stdout = '';
    let stderr = '';
    let refusal: PortfolioError | null = null;
    let peak = 0;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const refuse = (message: string) => {
      refusal ??= new PortfolioError('INVALID_ARTIFACT', message);
      killGroup();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < MAX_OUTPUT_BYTES) stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    const poll = setInterval(() => {
      const rss = child.pid ? rssOf(child.pid) : 0;
      peak = Math.max(peak, rss);
      if (rss > options.maxBytes)
        refuse(
          `loading the model took more than ${mib(options.maxBytes)} MiB of memory, the most a trial load may take (storage.trial_load.memory_limit); nothing was registered`,
        );
    }, RSS_POLL_MS);
    const timer = setTimeout(
      () =>
        refuse(
          `the model did not load within ${options.timeoutMs / 1000} s (storage.trial_load.timeout); nothing was registered`,
        ),
      options.timeoutMs,
    );
    child.on('error', (e) => {
      refusal ??= new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `the trial load could not start: ${e.message}`,
      );
    });
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      killGroup();
      if (refusal) return reject(refusal);
      const reply = lastJsonLine(stdout);
      if (!reply)
        return reject(
          new PortfolioError(
            'INVALID_ARTIFACT',
            `loading the model crashed its framework (${signal ? `signal ${signal}` : `exit code ${code}`}); nothing was registered`,
            { trial_output: scrubEngineMessage(stderr.slice(-1000)) },
          ),
        );
      if (reply.ok) return resolve(reply.signature);
      const passThrough =
        isErrorCode(reply.code) && reply.code !== 'MODEL_LOAD_FAILED';
      reject(
        new PortfolioError(
          passThrough ? reply.code : 'INVALID_ARTIFACT',
          passThrough
            ? reply.message
            : `the model does not load: ${scrubEngineMessage(reply.message)}`,
        ),
      );
    });
  });
}

function lastJsonLine(output: string): TrialReply | null {
  const lines = output.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as TrialReply;
  } catch {
    return null;
  }
}

/** A process's resident memory, from /proc; 0 once it is gone. */
function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / (1024 * 1024));
}
