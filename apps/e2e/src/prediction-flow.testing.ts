import * as ort from 'onnxruntime-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  buildLargeModel,
  buildMixedTypesModel,
  buildMlpModel,
  buildMultipart,
  buildTar,
  largeModelSide,
  makeTempDir,
  MlpOptions,
  writeModel,
} from '@portfolio/testing';

import { eventually } from './eventually.testing';
import { ErrorBody, http, keyHeader } from './http.testing';

export const MLP: MlpOptions = {
  inputSize: 4,
  hidden: [16, 8],
  outputSize: 3,
  seed: 7,
  softmax: true,
};

/** Registers an ONNX model with no settings (the test fails unless it is created). */
async function registerModel(
  url: string,
  adminKey: string,
  id: string,
): Promise<void> {
  const res = await http(`${url}/admin/models`, {
    json: { id, format: 'onnx' },
    key: adminKey,
  });
  expect(res.status).toBe(201);
}

/** The outputs ONNX Runtime itself gives for the file: what the server must return. */
export async function runDirectly(
  path: string,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 1,
  });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function expectClose(
  actual: number[],
  expected: ArrayLike<number>,
  tolerance = 1e-6,
): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => {
    if (Math.abs(v - expected[i]) > tolerance) {
      throw new Error(
        `element ${i}: got ${v}, expected ${expected[i]} (tolerance ${tolerance})`,
      );
    }
  });
}

/**
 * The flow, against any running Portfolio (distributed or standalone):
 * register an ONNX model through the admin API, upload a version, predict through
 * /v1, and check the numbers against onnxruntime run directly on the same file; then
 * every kind of bad input, each with its status and code, and nothing changed by them.
 */
export function predictionFlow(
  ctx: () => { url: string; adminKey: string },
  modelId: string,
): void {
  const dir = makeTempDir(`e2e-${modelId}`);
  const modelPath = writeModel(dir, 'mlp.onnx', buildMlpModel(MLP));
  const rows = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3],
  ];

  it('refuses admin calls without the key, or with a wrong one', async () => {
    const { url } = ctx();
    const none = await http<ErrorBody>(`${url}/admin/models`, {
      json: { id: modelId, format: 'onnx' },
      key: null,
    });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    const wrong = await http<ErrorBody>(`${url}/admin/models`, {
      json: { id: modelId, format: 'onnx' },
      key: 'not-the-key-0000000',
    });
    expect(wrong.status).toBe(401);
  });

  it('registers a model, then refuses the same id again with 409', async () => {
    const { url, adminKey } = ctx();
    const created = await http(`${url}/admin/models`, {
      json: {
        id: modelId,
        format: 'onnx',
        description: 'e2e MLP',
        memory_estimate: '8MiB',
      },
      key: adminKey,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: modelId,
      format: 'onnx',
      memory_estimate_bytes: 8 * 1024 * 1024,
    });
    const again = await http<ErrorBody>(`${url}/admin/models`, {
      json: { id: modelId, format: 'onnx' },
      key: adminKey,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('MODEL_EXISTS');
  });

  it('uploads a version as application/octet-stream and extracts its signature', async () => {
    const { url, adminKey } = ctx();
    const res = await http(`${url}/admin/models/${modelId}/versions`, {
      body: buildMlpModel(MLP),
      key: adminKey,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      model_id: modelId,
      version: 1,
      size_bytes: buildMlpModel(MLP).byteLength,
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      },
    });
    expect(res.body['sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('predicts through /v1 with the numbers onnxruntime gives on the same file', async () => {
    const { url } = ctx();
    const res = await http<{
      model_id: string;
      model_version: number;
      outputs: { y: number[][] };
    }>(`${url}/v1/models/${modelId}/predict`, {
      json: { inputs: { x: rows } },
    });
    expect(res.status).toBe(200);
    expect(res.body.model_id).toBe(modelId);
    expect(res.body.model_version).toBe(1);
    const direct = await runDirectly(modelPath, {
      x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 4]),
    });
    expect(res.body.outputs.y).toHaveLength(3);
    expectClose(res.body.outputs.y.flat(), direct['y'].data as Float32Array);
  });

  it('accepts the explicit tensor form and the single-input shorthand', async () => {
    const { url } = ctx();
    const explicit = await http<{ outputs: { y: number[][] } }>(
      `${url}/v1/models/${modelId}/predict`,
      {
        json: {
          inputs: { x: { shape: [1, 4], datatype: 'FP32', data: rows[0] } },
        },
      },
    );
    const shorthand = await http<{ outputs: { y: number[][] } }>(
      `${url}/v1/models/${modelId}/predict?version=1`,
      {
        json: { inputs: [rows[0]] },
      },
    );
    expect(explicit.status).toBe(200);
    expect(shorthand.status).toBe(200);
    expect(shorthand.body.outputs.y).toEqual(explicit.body.outputs.y);
  });

  it.each([
    [
      'a wrong input name',
      { inputs: { features: rows } },
      /no input "features"/,
    ],
    [
      'a wrong shape',
      { inputs: { x: [[1, 2, 3]] } },
      /input "x": expected shape \[-1, 4\], got \[1, 3\]/,
    ],
    [
      'a wrong datatype',
      {
        inputs: { x: { shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] } },
      },
      /input "x": expected datatype FP32, got INT64/,
    ],
    [
      'a ragged array',
      {
        inputs: {
          x: [
            [1, 2, 3, 4],
            [1, 2],
          ],
        },
      },
      /ragged/,
    ],
    [
      'a string where numbers belong',
      { inputs: { x: [['a', 2, 3, 4]] } },
      /input "x"/,
    ],
    ['no inputs at all', { something: 1 }, /"inputs"/],
  ])('answers 400 naming the input for %s', async (_what, body, message) => {
    const { url } = ctx();
    const res = await http<ErrorBody>(`${url}/v1/models/${modelId}/predict`, {
      json: body,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
    expect(res.body.error.request_id).toBeTruthy();
  });

  it('answers 400 for malformed JSON and for an invalid model id', async () => {
    const { url } = ctx();
    const res = await fetch(`${url}/v1/models/${modelId}/predict`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...keyHeader(url) },
      body: '{"inputs": [',
    });
    expect(res.status).toBe(400);
    const bad = await http<ErrorBody>(`${url}/v1/models/UPPER..case/predict`, {
      json: { inputs: [rows[0]] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_MODEL_ID');
  });

  it('answers 404 for an unknown model or version', async () => {
    const { url } = ctx();
    const model = await http<ErrorBody>(
      `${url}/v1/models/no-such-model/predict`,
      { json: { inputs: [rows[0]] } },
    );
    expect(model.status).toBe(404);
    expect(model.body.error.code).toBe('MODEL_NOT_FOUND');
    const version = await http<ErrorBody>(
      `${url}/v1/models/${modelId}/predict?version=9`,
      { json: { inputs: [rows[0]] } },
    );
    expect(version.status).toBe(404);
    expect(version.body.error.code).toBe('VERSION_NOT_FOUND');
  });

  it('follows aliases: ?alias=, and the default version while production is set', async () => {
    const { url, adminKey } = ctx();
    const id = `${modelId}-aliased`;
    const first = buildMlpModel({ ...MLP, seed: 11 });
    const second = buildMlpModel({ ...MLP, seed: 12 });
    await registerModel(url, adminKey, id);
    for (const bytes of [first, second])
      expect(
        (
          await http(`${url}/admin/models/${id}/versions`, {
            body: bytes,
            key: adminKey,
          })
        ).status,
      ).toBe(201);
    const predict = (query = '') =>
      http<{ model_version: number; outputs: { y: number[][] } }>(
        `${url}/v1/models/${id}/predict${query}`,
        { json: { inputs: [rows[0]] } },
      );
    const setAlias = (alias: string, version: number) =>
      http(`${url}/admin/models/${id}/aliases/${alias}`, {
        method: 'PUT',
        json: { version },
        key: adminKey,
      });

    const set = await setAlias('production', 1);
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      alias: 'production',
      version: 1,
      previous_version: null,
    });
    const pinned = await predict();
    const byAlias = await predict('?alias=production');
    const latest = await predict('?version=2');
    expect([pinned.body.model_version, byAlias.body.model_version]).toEqual([
      1, 1,
    ]);
    expect(byAlias.body.outputs).toEqual(pinned.body.outputs);
    // The versions are different models: the alias decides which one answers.
    expect(latest.body.outputs).not.toEqual(pinned.body.outputs);

    const moved = await setAlias('production', 2);
    expect(moved.body).toMatchObject({ version: 2, previous_version: 1 });
    const after = await predict();
    expect(after.body.model_version).toBe(2);
    expect(after.body.outputs).toEqual(latest.body.outputs);
    const meta = await http<Record<string, unknown>>(
      `${url}/v1/models/${id}/metadata`,
    );
    expect(meta.body).toMatchObject({
      aliases: { production: 2 },
      default_version: 2,
    });

    const deleted = await http(`${url}/admin/models/${id}/aliases/production`, {
      method: 'DELETE',
      key: adminKey,
    });
    expect(deleted.body).toEqual({
      model_id: id,
      alias: 'production',
      version: 2,
    });
    const gone = await http<ErrorBody>(
      `${url}/v1/models/${id}/predict?alias=production`,
      { json: { inputs: [rows[0]] } },
    );
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('ALIAS_NOT_FOUND');

    const patched = await http<Record<string, unknown>>(
      `${url}/admin/models/${id}`,
      { method: 'PATCH', json: { pinned: true, ttl: '1h' }, key: adminKey },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, pinned: true, ttl_ms: 3_600_000 });

    // Each change is in the audit log, newest first, under the key that made it.
    const audit = await http<{
      entries: {
        action: string;
        actor: string | null;
        version: number | null;
      }[];
    }>(`${url}/admin/audit?model_id=${id}`, { key: adminKey });
    expect(audit.status).toBe(200);
    expect(audit.body.entries.map((e) => [e.action, e.version])).toEqual([
      ['model.update', null],
      ['alias.delete', 2],
      ['alias.set', 2],
      ['alias.set', 1],
      ['version.create', 2],
      ['version.create', 1],
      ['model.create', null],
    ]);
    expect(new Set(audit.body.entries.map((e) => e.actor))).toEqual(
      new Set(['bootstrap']),
    );
  });

  it('refuses a corrupt artifact with 422 and registers nothing', async () => {
    const { url, adminKey } = ctx();
    const res = await http<ErrorBody>(
      `${url}/admin/models/${modelId}/versions`,
      { body: randomBytes(4096), key: adminKey },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_ARTIFACT');
    expect(res.body.error.message).toMatch(/not a valid ONNX model/);
    const versions = await http<{ versions: unknown[] }>(
      `${url}/admin/models/${modelId}/versions`,
      { key: adminKey },
    );
    expect(versions.body.versions).toHaveLength(1);
  });

  it('registers a model whose weights sit beside it, as a form and as a tar.gz, and predicts with them', async () => {
    const { url, adminKey } = ctx();
    const id = `${modelId}-external`;
    await registerModel(url, adminKey, id);
    const path = buildLargeModel({
      weightBytes: 256 * 1024,
      externalData: true,
      dir,
      name: 'external',
      seed: 41,
    });
    const files = [
      { name: 'external.onnx', data: readFileSync(path) },
      { name: 'external.data', data: readFileSync(join(dir, 'external.data')) },
    ];
    const form = buildMultipart(files);
    const posted = await http<{ version: number; sha256: string }>(
      `${url}/admin/models/${id}/versions`,
      { body: form.body, contentType: form.contentType, key: adminKey },
    );
    expect(posted.status).toBe(201);
    const archived = await http<{ version: number; sha256: string }>(
      `${url}/admin/models/${id}/versions`,
      {
        body: await buildTar(files, { gzip: true }),
        contentType: 'application/gzip',
        key: adminKey,
      },
    );
    expect(archived.status).toBe(201);
    // Two versions of the same files: one digest.
    expect(archived.body.sha256).toBe(posted.body.sha256);

    const width = largeModelSide(256 * 1024);
    const row = Array.from({ length: width }, (_, i) => (i % 7) / 7);
    const expected = await runDirectly(path, {
      x: new ort.Tensor('float32', Float32Array.from(row), [1, width]),
    });
    const res = await http<{ outputs: { y: number[][] } }>(
      `${url}/v1/models/${id}/predict?version=${posted.body.version}`,
      { json: { inputs: { x: [row] } } },
    );
    expect(res.status).toBe(200);
    expectClose(
      res.body.outputs.y[0],
      expected['y'].data as Float32Array,
      1e-4,
    );
  });

  it('refuses an archive with a path leading out with 422, registering nothing', async () => {
    const { url, adminKey } = ctx();
    const res = await http<ErrorBody>(
      `${url}/admin/models/${modelId}/versions`,
      {
        body: await buildTar([
          { name: 'model.onnx', data: readFileSync(modelPath) },
          { name: '../../escape.txt', data: 'x' },
        ]),
        contentType: 'application/x-tar',
        key: adminKey,
      },
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('INVALID_ARTIFACT');
    expect(res.body.error.message).toMatch(/leads out of the upload/);
    const versions = await http<{ versions: unknown[] }>(
      `${url}/admin/models/${modelId}/versions`,
      { key: adminKey },
    );
    expect(versions.body.versions).toHaveLength(1);
  });

  it('refuses an upload for an unknown model, and a model of another format as that format', async () => {
    const { url, adminKey } = ctx();
    const unknown = await http<ErrorBody>(
      `${url}/admin/models/ghost/versions`,
      { body: buildMlpModel(MLP), key: adminKey },
    );
    expect(unknown.status).toBe(404);
    const torch = await http<ErrorBody>(`${url}/admin/models`, {
      json: { id: `${modelId}-torch`, format: 'pytorch' },
      key: adminKey,
    });
    expect(torch.status).toBe(201);
    const asTorch = await http<ErrorBody>(
      `${url}/admin/models/${modelId}-torch/versions`,
      { body: buildMlpModel(MLP), key: adminKey },
    );
    expect(asTorch.status).toBe(422);
    expect(asTorch.body.error.code).toBe('INVALID_ARTIFACT');
    const badSize = await http<ErrorBody>(`${url}/admin/models`, {
      json: { id: `${modelId}-x`, format: 'onnx', memory_estimate: '2XB' },
      key: adminKey,
    });
    expect(badSize.status).toBe(400);
    expect(badSize.body.error.message).toMatch(/memory_estimate/);
  });

  it('serves a model with several inputs and integer tensors', async () => {
    const { url, adminKey } = ctx();
    const id = `${modelId}-mixed`;
    await registerModel(url, adminKey, id);
    expect(
      (
        await http(`${url}/admin/models/${id}/versions`, {
          body: buildMixedTypesModel(),
          key: adminKey,
        })
      ).status,
    ).toBe(201);
    const res = await http<{ outputs: { sum: number[][]; argmax: number[] } }>(
      `${url}/v1/models/${id}/predict`,
      {
        json: { inputs: { a: [[0.5, 1, 1.5]], b: [[1, 2, 3]] } },
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.outputs.sum).toEqual([[1.5, 3, 4.5]]);
    expect(res.body.outputs.argmax).toEqual([2]);
    const wrong = await http<ErrorBody>(`${url}/v1/models/${id}/predict`, {
      json: { inputs: { a: [[1, 2, 3]], b: [[1.5, 2, 3]] } },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toMatch(/input "b".*integer/);
  });

  it('reports the model in status and metadata', async () => {
    const { url } = ctx();
    const meta = await http<Record<string, unknown>>(
      `${url}/v1/models/${modelId}/metadata`,
    );
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({
      id: modelId,
      format: 'onnx',
      default_version: 1,
      signature: { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }] },
      memory: { declared_bytes: 8 * 1024 * 1024 },
    });
    const status = await http<{
      models: { model_id: string; state: string; nodes: string[] }[];
    }>(`${url}/v1/models/status`);
    expect(status.status).toBe(200);
    const entry = status.body.models.find((m) => m.model_id === modelId);
    expect(entry).toMatchObject({ state: 'loaded' });
    expect(entry?.nodes.length).toBeGreaterThan(0);
  });

  it('moves production to a new version under load with no failed request, then drains the old one', async () => {
    const { url, adminKey } = ctx();
    const id = `${modelId}-rollout`;
    await registerModel(url, adminKey, id);
    for (const seed of [21, 22])
      expect(
        (
          await http(`${url}/admin/models/${id}/versions`, {
            body: buildMlpModel({ ...MLP, seed }),
            key: adminKey,
          })
        ).status,
      ).toBe(201);
    const put = (version: number) =>
      http<{ rollout: { nodes: string[]; previous: string } }>(
        `${url}/admin/models/${id}/aliases/production`,
        { method: 'PUT', json: { version }, key: adminKey },
      );
    expect((await put(1)).status).toBe(200);
    expect(
      (
        await http(`${url}/admin/models/${id}/load`, {
          json: {},
          key: adminKey,
        })
      ).status,
    ).toBe(200);

    // Four clients predict without naming a version, before, during and after the move.
    const seen: { status: number; version: number; at: number }[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        const at = Date.now();
        const res = await http<{ model_version: number }>(
          `${url}/v1/models/${id}/predict`,
          { json: { inputs: [rows[0]] } },
        );
        seen.push({ status: res.status, version: res.body.model_version, at });
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await new Promise((r) => setTimeout(r, 300));
    const moved = await put(2);
    const movedAt = Date.now();
    // Past the drain: the old version is unloaded while clients keep asking.
    await new Promise((r) => setTimeout(r, 2000));
    running = false;
    await Promise.all(clients);

    expect(moved.status).toBe(200);
    expect(moved.body.rollout).toEqual({
      nodes: [expect.any(String)],
      previous: 'draining',
    });
    expect(seen.filter((r) => r.status !== 200)).toEqual([]);
    // Version 1 answered before the move, version 2 to every request sent after it.
    expect(seen.some((r) => r.version === 1)).toBe(true);
    expect(
      seen.filter((r) => r.at > movedAt).map((r) => r.version),
    ).not.toContain(1);
    const loadedVersions = async () => {
      const status = await http<{
        models: { model_id: string; version: number; state: string }[];
      }>(`${url}/v1/models/status`);
      return status.body.models
        .filter((m) => m.model_id === id && m.state === 'loaded')
        .map((m) => m.version);
    };
    await eventually('version 1 drained', async () =>
      (await loadedVersions()).join() === '2' ? true : null,
    );
    // Unloaded, not gone: a request naming it loads it again.
    const pinned = await http<{ model_version: number }>(
      `${url}/v1/models/${id}/predict?version=1`,
      { json: { inputs: [rows[0]] } },
    );
    expect(pinned.status).toBe(200);
    expect(pinned.body.model_version).toBe(1);
  });

  it('deletes and deprecates versions: refused while aliased or loaded, forced with ?force=true', async () => {
    const { url, adminKey } = ctx();
    const id = `${modelId}-retired`;
    await registerModel(url, adminKey, id);
    for (const seed of [31, 32, 33])
      await http(`${url}/admin/models/${id}/versions`, {
        body: buildMlpModel({ ...MLP, seed }),
        key: adminKey,
      });
    const admin = <T = ErrorBody>(
      method: string,
      path: string,
      json?: unknown,
    ) =>
      http<T>(`${url}/admin/models/${id}${path}`, {
        method,
        key: adminKey,
        ...(json === undefined ? {} : { json }),
      });
    const predict = (query = '') =>
      http<{ model_version: number }>(
        `${url}/v1/models/${id}/predict${query}`,
        {
          json: { inputs: [rows[0]] },
        },
      );

    // Deprecated: never the default, still served by number.
    expect(
      (await admin('PATCH', '/versions/3', { status: 'deprecated' })).status,
    ).toBe(200);
    expect((await predict()).body.model_version).toBe(2);
    expect((await predict('?version=3')).body.model_version).toBe(3);

    await admin('PUT', '/aliases/staging', { version: 1 });
    const aliased = await admin('DELETE', '/versions/1');
    expect(aliased.status).toBe(409);
    expect(aliased.body.error.code).toBe('VERSION_IN_USE');
    // Version 2 answered the default prediction above: it is loaded.
    const loaded = await admin('DELETE', '/versions/2');
    expect(loaded.status).toBe(409);
    expect(loaded.body.error.message).toMatch(/is loaded on/);

    const forced = await admin<{ unloaded: { version: number }[] }>(
      'DELETE',
      '/versions/2?force=true',
    );
    expect(forced.status).toBe(200);
    expect(forced.body.unloaded.map((u) => u.version)).toEqual([2]);
    const gone = await predict('?version=2');
    expect(gone.status).toBe(404);
    expect((gone.body as unknown as ErrorBody).error.code).toBe(
      'VERSION_NOT_FOUND',
    );
    // With 2 deleted and 3 deprecated, the default is version 1.
    expect((await predict()).body.model_version).toBe(1);
    // A new upload never takes a deleted number.
    const next = await http<{ version: number }>(
      `${url}/admin/models/${id}/versions`,
      {
        body: buildMlpModel({ ...MLP, seed: 34 }),
        key: adminKey,
      },
    );
    expect(next.body.version).toBe(4);

    const model = await admin('DELETE', '');
    expect(model.status).toBe(409);
    expect(model.body.error.code).toBe('MODEL_IN_USE');
    expect((await admin('DELETE', '?force=true')).status).toBe(200);
    const missing = await predict();
    expect(missing.status).toBe(404);
    expect((missing.body as unknown as ErrorBody).error.code).toBe(
      'MODEL_NOT_FOUND',
    );
  });
}
