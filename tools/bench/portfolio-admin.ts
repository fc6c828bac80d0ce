/**
 * What the benchmarks that run Portfolio's apps share: starting the standalone app,
 * the model they serve, and what they do through its admin API.
 */
import {
  AppProcess,
  freePort,
  makeTempDir,
  MlpOptions,
} from '@portfolio/testing';

/** Creates ONNX model `id` and uploads `modelBytes` as its first version; throws on any refusal. */
export async function registerOnnxModel(
  url: string,
  adminKey: string,
  id: string,
  modelBytes: Uint8Array,
): Promise<void> {
  const auth = { Authorization: `Bearer ${adminKey}` };
  const created = await fetch(`${url}/admin/models`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ id, format: 'onnx' }),
  });
  if (created.status !== 201)
    throw new Error(`register: ${created.status} ${await created.text()}`);
  const version = await fetch(`${url}/admin/models/${id}/versions`, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/octet-stream' },
    body: modelBytes,
  });
  if (version.status !== 201)
    throw new Error(`upload: ${version.status} ${await version.text()}`);
}

/**
 * The 4-16-3 MLP with softmax (the iris example's shape) that the HTTP benchmarks
 * serve: small enough that what they measure is the server, not the model.
 */
export const BENCH_MLP: MlpOptions = {
  inputSize: 4,
  hidden: [16],
  outputSize: 3,
  seed: 1,
  softmax: true,
};

/**
 * The standalone app on a free port with its own data directory, the bootstrap admin
 * key `adminKey`, quiet logs and `env` on top; resolves once it serves.
 */
export async function startStandalone(
  adminKey: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<{ url: string; app: AppProcess }> {
  const port = await freePort();
  const app = new AppProcess({
    name: 'portfolio',
    app: 'portfolio',
    env: {
      PORTFOLIO_DATA_DIR: makeTempDir('bench-standalone'),
      PORTFOLIO_GATEWAY_PORT: String(port),
      PORTFOLIO_ADMIN_KEY: adminKey,
      PORTFOLIO_LOG_LEVEL: 'warn',
      MALLOC_MMAP_THRESHOLD_: '131072',
      ...env,
    },
    nodeArgs,
    readyLine: 'Portfolio is running',
  });
  await app.start();
  return { url: `http://127.0.0.1:${port}`, app };
}
