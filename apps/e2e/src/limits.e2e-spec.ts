import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';

import {
  AppProcess,
  buildMlpModel,
  freePort,
  makeTempDir,
} from '@portfolio/testing';

import { ErrorBody, http, keyHeader, useKey } from './http.testing';

const ADMIN_KEY = 'limits-admin-key-0123456789';

const LIMIT = 4096;
/** Uploads have a limit of their own, here larger than the body limit. */
const UPLOAD_LIMIT = 6144;

/**
 * Bodies above `gateway.body_limit`, and uploads above `gateway.upload_limit`, get 413
 * and change nothing, whether announced or streamed.
 */
describe('request body limits', () => {
  const dataDir = makeTempDir('limits');
  let app: AppProcess;
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    app = new AppProcess({
      name: 'portfolio-limits',
      app: 'portfolio',
      env: {
        PORTFOLIO_DATA_DIR: dataDir,
        PORTFOLIO_GATEWAY_PORT: String(port),
        PORTFOLIO_GATEWAY_BODY_LIMIT: String(LIMIT),
        PORTFOLIO_GATEWAY_UPLOAD_LIMIT: String(UPLOAD_LIMIT),
        PORTFOLIO_ADMIN_KEY: ADMIN_KEY,
        MALLOC_MMAP_THRESHOLD_: '131072',
      },
      readyLine: 'portfolio ready',
    });
    await app.start();
    url = `http://127.0.0.1:${port}`;
    useKey(url, ADMIN_KEY);
    expect(
      (
        await http(`${url}/admin/models`, {
          json: { id: 'small', format: 'onnx' },
        })
      ).status,
    ).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await app?.stop();
  });

  it('refuses a JSON body above the limit with 413', async () => {
    const rows = Array.from({ length: 1000 }, () => [1, 2, 3, 4]);
    const res = await http<ErrorBody>(`${url}/v1/models/small/predict`, {
      json: { inputs: rows },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toContain(String(LIMIT));
  });

  it('refuses an announced upload above the limit before reading it', async () => {
    const res = await http<ErrorBody>(`${url}/admin/models/small/versions`, {
      body: new Uint8Array(UPLOAD_LIMIT + 1),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toMatch(/gateway\.upload_limit/);
  });

  it('stops a streamed (chunked) upload once it passes the limit, leaving nothing behind', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/admin/models/small/versions`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/octet-stream',
          'Transfer-Encoding': 'chunked',
          ...keyHeader(url),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write(Buffer.alloc(1024, i));
      req.end();
    });
    expect(status).toBe(413);
    // Checked at once, not eventually: the gateway answers only after the storage
    // service's abort has answered, and that answer comes once the temporary file is
    // gone (even when the upload is aborted before its first chunk reached storage).
    expect(readdirSync(join(dataDir, 'artifacts', '.ingest'))).toEqual([]);
    const versions = await http<{ versions: unknown[] }>(
      `${url}/admin/models/small/versions`,
    );
    expect(versions.body.versions).toEqual([]);
  });

  it('still accepts an upload within the limit', async () => {
    const model = buildMlpModel({
      inputSize: 2,
      hidden: [],
      outputSize: 2,
      seed: 1,
    });
    expect(model.byteLength).toBeLessThan(UPLOAD_LIMIT);
    const res = await http(`${url}/admin/models/small/versions`, {
      body: model,
    });
    expect(res.status).toBe(201);
  });

  it('answers 415 for a body that is neither JSON nor an artifact', async () => {
    const res = await fetch(`${url}/v1/models/small/predict`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/xml', ...keyHeader(url) },
      body: '<x/>',
    });
    expect(res.status).toBe(415);
  });
});
