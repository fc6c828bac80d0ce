import { z } from 'zod';

import { serviceRpc, targetedRpc } from '../rpc';
import {
  Bytes,
  Empty,
  ModelFormatSchema,
  ModelId,
  PingResponse,
  Sha256,
  SignatureSchema,
} from './common.schema';

/**
 * Artifact ingest over the bus. Artifacts are far larger than a NATS message
 * (1 MiB by default), so they travel as a sequence of chunks addressed to the ONE
 * storage instance that accepted `begin` (its id comes back as `instance`):
 *   begin (queue group) -> chunk x N (raw bytes, in order, each acknowledged) -> commit | abort
 * The storage instance hashes while it writes, validates the artifact for its format
 * at commit, and only then moves it to its final, content-addressed place. An ingest
 * that sees no chunk for `idle_timeout_ms` is aborted and its temporary file removed.
 */
export const IngestBeginRequest = z.object({
  model_id: ModelId,
  format: ModelFormatSchema,
  /** When the client announced a length (Content-Length), the commit must match it. */
  expected_size_bytes: Bytes.optional(),
  /**
   * The client's `multipart/form-data; boundary=...` when the body is a form (files in
   * field `artifact`); absent: the body is the artifact itself, or a tar/zip archive of
   * its files (told apart by content).
   */
  content_type: z
    .string()
    .max(1000)
    .regex(/^multipart\/form-data\s*;/i)
    .optional(),
});
export const IngestBeginResponse = z.object({
  ingest_id: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  instance: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  max_chunk_bytes: z.number().int().positive(),
  idle_timeout_ms: z.number().int().positive(),
});
export type IngestBeginResponse = z.infer<typeof IngestBeginResponse>;

/** Headers of a raw chunk message (the body is the bytes). */
export const INGEST_ID_HEADER = 'Portfolio-Ingest-Id';
export const INGEST_SEQ_HEADER = 'Portfolio-Ingest-Seq';
export const IngestChunkResponse = z.object({ received_bytes: Bytes });

export function ingestChunkSubject(prefix: string, instance: string): string {
  return `${prefix}.storage.${instance}.ingest.chunk.v1`;
}

export const IngestCommitRequest = z.object({
  ingest_id: z.string(),
  chunks: z.number().int().nonnegative(),
});
export const IngestCommitResponse = z.object({
  artifact_uri: z.string(),
  sha256: Sha256,
  size_bytes: Bytes,
  format: ModelFormatSchema,
  signature: SignatureSchema,
  /** False when identical bytes were already stored (content addressing); nothing new was written. */
  created: z.boolean(),
});
export type IngestCommitResponse = z.infer<typeof IngestCommitResponse>;

export const IngestAbortRequest = z.object({ ingest_id: z.string() });

/**
 * A version's artifact from where it already is: `file://`, `s3://`, `gs://` or
 * `az://`, under one of the storage service's import sources (INVALID_REQUEST
 * otherwise). The file, or every file under the directory or folder, is copied in and
 * validated like an upload; `sha256`, when given, must be the artifact's.
 */
export const ImportUriRequest = z.object({
  model_id: ModelId,
  format: ModelFormatSchema,
  uri: z.string().min(1).max(2000),
  sha256: Sha256.optional(),
});
export type ImportUriRequest = z.infer<typeof ImportUriRequest>;

export const DeleteArtifactRequest = z.object({ artifact_uri: z.string() });
export const DeleteArtifactResponse = z.object({ deleted: z.boolean() });

/**
 * Collect stored artifacts that no version references (see the storage service's
 * ArtifactCollector); `dry_run`: report what would go, delete nothing.
 */
export const GcRequest = z.object({
  dry_run: z.boolean(),
  /** Keep artifacts younger than this (default: the service's setting). */
  min_age_ms: z.number().int().nonnegative().optional(),
});
export type GcRequest = z.infer<typeof GcRequest>;
export const GcReport = z.object({
  dry_run: z.boolean(),
  min_age_ms: z.number().int().nonnegative(),
  scanned: z.object({
    artifacts: z.number().int().nonnegative(),
    files: z.number().int().nonnegative(),
    bytes: Bytes,
  }),
  unreferenced: z.object({
    artifacts: z.number().int().nonnegative(),
    bytes: Bytes,
    /** Unreferenced but younger than `min_age_ms`: kept. */
    too_recent: z.number().int().nonnegative(),
    /** The first 1000 of them. */
    listed: z.array(
      z.object({
        model_id: ModelId,
        sha256: Sha256,
        files: z.number().int().positive(),
        bytes: Bytes,
        modified_at: z.string(),
        collectable: z.boolean(),
      }),
    ),
  }),
  deleted: z.object({
    artifacts: z.number().int().nonnegative(),
    bytes: Bytes,
  }),
  took_ms: z.number().nonnegative(),
});
export type GcReport = z.infer<typeof GcReport>;

const QUEUE = 'storage';

export const Storage = {
  ingestBegin: serviceRpc(
    'storage.ingest.begin.v1',
    QUEUE,
    IngestBeginRequest,
    IngestBeginResponse,
  ),
  ingestCommit: targetedRpc(
    'storage',
    'ingest.commit.v1',
    IngestCommitRequest,
    IngestCommitResponse,
  ),
  ingestAbort: targetedRpc(
    'storage',
    'ingest.abort.v1',
    IngestAbortRequest,
    Empty,
  ),
  importUri: serviceRpc(
    'storage.ingest.uri.v1',
    QUEUE,
    ImportUriRequest,
    IngestCommitResponse,
  ),
  deleteArtifact: serviceRpc(
    'storage.artifact.delete.v1',
    QUEUE,
    DeleteArtifactRequest,
    DeleteArtifactResponse,
  ),
  collectGarbage: serviceRpc('storage.gc.run.v1', QUEUE, GcRequest, GcReport),
  ping: serviceRpc('storage.ping.v1', QUEUE, Empty, PingResponse),
} as const;
