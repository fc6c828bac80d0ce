import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import type { LoadModelRequest } from '@portfolio/contracts';
import { compileForNode } from '@portfolio/testing';

import type { ModelHostService } from './model-host.service';
import type { RuntimeSettings } from './runtime.settings';
import type { WorkerScript } from './worker/worker-pool';

/**
 * The inference worker for tests, compiled from its source (see compileForNode: a
 * thread then starts in about 0.1 s, and the runtime starts a thread per copy of a
 * model). Production runs the webpack-built `inference-worker.js`.
 */
export function testWorkerScript(): WorkerScript {
  return {
    path: compileForNode(resolve(__dirname, 'worker/inference.worker.ts')),
  };
}

export function testRuntimeSettings(
  overrides: Partial<RuntimeSettings> = {},
): RuntimeSettings {
  return {
    nodeId: 'node-test',
    capacityBytes: 1024 * 1024 * 1024,
    softLimitBytes: 768 * 1024 * 1024,
    workers: 1,
    intraOpThreads: 1,
    heartbeatIntervalMs: 60_000,
    workerScript: testWorkerScript(),
    // The guard reads the process's RSS: hosts sharing a jest process would see each
    // other's models as their own excess. Its own tests turn it on.
    rssGuardIntervalMs: 0,
    ...overrides,
  };
}

/**
 * A load request for a model file under a LocalStorageDriver root (`key` relative to
 * the root), with its real size and sha256.
 */
export function loadRequestFor(
  root: string,
  key: string,
  fields: Partial<LoadModelRequest> & Pick<LoadModelRequest, 'model_id'>,
): LoadModelRequest {
  const path = resolve(root, key);
  return {
    version: 1,
    format: 'onnx',
    artifact_uri: `local:${key}`,
    sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    size_bytes: statSync(path).size,
    memory_estimate_bytes: 0,
    ...fields,
  };
}

/** Element-wise comparison with a relative tolerance (and an absolute floor for values near 0). */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel = 1e-5,
  floor = 1e-6,
): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const tolerance = Math.max(floor, rel * Math.abs(expected[i]));
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance))
      bad.push(`[${i}] ${actual[i]} != ${expected[i]}`);
  }
  expect(bad).toEqual([]);
}

/** Deterministic inputs in [-1, 1). */
export function sampleInput(length: number, seed = 1): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Collects this process's garbage and waits until its RSS holds still (within 1 MiB
 * over `quietMs`, at most `maxMs`). The runtime measures a model as the process's RSS
 * delta around its load: a garbage collection of the main thread's heap during the load
 * (leftovers of earlier tests in the same jest process) would be subtracted from it.
 */
export async function settleMemory(
  quietMs = 300,
  maxMs = 5_000,
): Promise<void> {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const started = Date.now();
  let last = process.memoryUsage.rss();
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs && Date.now() - started < maxMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = process.memoryUsage.rss();
    if (Math.abs(now - last) > 1024 * 1024) quietSince = Date.now();
    last = now;
  }
}

/** What tests reach inside a host for: its lock, its pool, its pending spare. */
interface HostInternals {
  spareTimer: unknown;
  pool: { ready(): Promise<void> };
  memory: { run(section: () => Promise<void>): Promise<void> };
}

/**
 * Resolves once the host has nothing under way that changes its memory: its spare
 * worker warm (a new one starts shortly after each load), no load, unload or spawn
 * queued or running.
 */
export async function hostIdle(host: ModelHostService): Promise<void> {
  const internals = host as unknown as HostInternals;
  for (;;) {
    await internals.pool.ready().catch(() => undefined);
    await internals.memory.run(async () => undefined);
    if (internals.spareTimer === null) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Shuts a host down once its workers are idle: onnxruntime-node aborts the process when
 * a worker is terminated in the middle of a native call (its warm-up included).
 */
export async function closeHost(host: ModelHostService): Promise<void> {
  await hostIdle(host);
  await host.onApplicationShutdown();
}
