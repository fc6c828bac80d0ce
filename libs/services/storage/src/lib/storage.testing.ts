import { INestApplicationContext } from '@nestjs/common';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

import {
  INGEST_ID_HEADER,
  INGEST_SEQ_HEADER,
  ingestChunkSubject,
  IngestCommitResponse,
  ModelFormat,
  Storage,
} from '@portfolio/contracts';
import {
  createBusApp,
  decodeJson,
  MessageBus,
  Messaging,
  MessagingModule,
} from '@portfolio/messaging';
import { LocalStorageDriver } from '@portfolio/storage';
import { compileForNode, REPO_ROOT } from '@portfolio/testing';

import { StorageServiceModule } from './storage-service.module';
import { ImportSources } from './import/import-sources';
import { UnpackLimits } from './unpack/artifact-unpack';

export interface StorageUnderTest {
  readonly app: INestApplicationContext;
  /** Where the service's LocalStorageDriver stores artifacts. */
  readonly root: string;
  close(): Promise<void>;
}

/** The trial-load script, compiled from its source (production runs the built trial-load.js). */
export function testTrialLoadScript(): string {
  return compileForNode(
    join(REPO_ROOT, 'libs/model-formats/src/lib/trial/trial-load.main.ts'),
  );
}

/** The storage service on `bus`, storing under `root` (a LocalStorageDriver). */
export async function startStorage(options: {
  bus: MessageBus;
  prefix: string;
  root: string;
  maxPayloadBytes?: number;
  idleTimeoutMs?: number;
  unpackLimits?: UnpackLimits;
  importSources?: ImportSources;
  /** Whether artifacts are trial-loaded before they are stored (default: yes, as in production). */
  trialLoad?: boolean;
}): Promise<StorageUnderTest> {
  const app = await createBusApp(
    {
      module: class StorageTestApp {},
      imports: [
        MessagingModule.forRoot({
          bus: options.bus,
          prefix: options.prefix,
          requestTimeoutMs: 10_000,
        }),
        StorageServiceModule.forRoot({
          driver: new LocalStorageDriver(options.root),
          maxPayloadBytes:
            options.maxPayloadBytes ?? options.bus.maxPayloadBytes(),
          idleTimeoutMs: options.idleTimeoutMs,
          // Under the root: a test that finds no file there knows nothing was left.
          unpackDir: join(options.root, '.unpack'),
          unpackLimits: options.unpackLimits,
          importSources: options.importSources,
          // Collections only when a test asks for one.
          gc: { intervalMs: 0, minAgeMs: 3_600_000 },
          trialLoad:
            options.trialLoad === false
              ? undefined
              : {
                  script: testTrialLoadScript(),
                  timeoutMs: 60_000,
                  maxBytes: 4 * 1024 ** 3,
                },
        }),
      ],
    },
    { logger: ['error'] },
  );
  return { app, root: options.root, close: () => app.close() };
}

/** One raw chunk of an ingest, addressed to the instance that accepted `begin`. */
export async function sendChunk(
  client: Messaging,
  instance: string,
  ingestId: string,
  seq: number,
  data: Uint8Array,
): Promise<{ received_bytes: number }> {
  const reply = await client.requestRaw(
    ingestChunkSubject(client.prefix, instance),
    data,
    {
      headers: {
        [INGEST_ID_HEADER]: ingestId,
        [INGEST_SEQ_HEADER]: String(seq),
      },
    },
  );
  return decodeJson(reply.data) as { received_bytes: number };
}

/** Splits `bytes` into chunks of at most `size` bytes (none for empty input). */
export function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; at += size)
    chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

/**
 * The whole protocol as a client runs it: begin -> chunks in order -> commit. Rejects
 * with the first error any step answers (after aborting, as a client would).
 */
export async function ingest(
  client: Messaging,
  modelId: string,
  bytes: Uint8Array,
  options: {
    format?: ModelFormat;
    chunkBytes?: number;
    expectedSizeBytes?: number;
    /** A form's content type (`buildMultipart`). */
    contentType?: string;
  } = {},
): Promise<IngestCommitResponse> {
  const begun = await client.call(Storage.ingestBegin, {
    model_id: modelId,
    format: options.format ?? 'onnx',
    expected_size_bytes: options.expectedSizeBytes,
    ...(options.contentType !== undefined
      ? { content_type: options.contentType }
      : {}),
  });
  const chunks = chunksOf(
    bytes,
    Math.min(
      options.chunkBytes ?? begun.max_chunk_bytes,
      begun.max_chunk_bytes,
    ),
  );
  try {
    for (const [seq, chunk] of chunks.entries())
      await sendChunk(client, begun.instance, begun.ingest_id, seq, chunk);
  } catch (e) {
    await client
      .call(
        Storage.ingestAbort,
        { ingest_id: begun.ingest_id },
        { target: begun.instance },
      )
      .catch(() => undefined);
    throw e;
  }
  return client.call(
    Storage.ingestCommit,
    { ingest_id: begun.ingest_id, chunks: chunks.length },
    { target: begun.instance },
  );
}

/** Every file under `dir`, relative and sorted (directories alone are not listed). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}
