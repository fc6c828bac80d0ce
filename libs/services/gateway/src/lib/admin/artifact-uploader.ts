import { Injectable } from '@nestjs/common';

import {
  INGEST_ID_HEADER,
  INGEST_SEQ_HEADER,
  ingestChunkSubject,
  IngestCommitResponse,
  ModelFormat,
  PortfolioError,
  Storage,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

/**
 * Streams an artifact to the storage service in chunks (see the ingest protocol in
 * @portfolio/contracts). Chunks are re-cut to the size the storage instance asks for,
 * sent one at a time and acknowledged, so memory stays at one chunk whatever the size.
 * On any failure the ingest is aborted: storage keeps nothing.
 */
@Injectable()
export class ArtifactUploader {
  constructor(private readonly messaging: Messaging) {}

  async upload(
    modelId: string,
    format: ModelFormat,
    source: AsyncIterable<Uint8Array>,
    options: {
      expectedSizeBytes?: number;
      maxBytes?: number;
      contentType?: string;
    } = {},
  ): Promise<IngestCommitResponse> {
    const m = this.messaging;
    const begin = await m.call(Storage.ingestBegin, {
      model_id: modelId,
      format,
      expected_size_bytes: options.expectedSizeBytes,
      ...(options.contentType !== undefined
        ? { content_type: options.contentType }
        : {}),
    });
    const subject = ingestChunkSubject(m.prefix, begin.instance);
    let seq = 0;
    let total = 0;
    let pending: Buffer = Buffer.alloc(0);
    const send = async (chunk: Uint8Array) => {
      await m.requestRaw(subject, chunk, {
        headers: {
          [INGEST_ID_HEADER]: begin.ingest_id,
          [INGEST_SEQ_HEADER]: String(seq),
        },
      });
      seq++;
    };
    try {
      for await (const piece of source) {
        total += piece.byteLength;
        if (options.maxBytes !== undefined && total > options.maxBytes) {
          throw new PortfolioError(
            'PAYLOAD_TOO_LARGE',
            `the artifact is larger than the limit of ${options.maxBytes} bytes`,
          );
        }
        pending = pending.length
          ? Buffer.concat([pending, piece])
          : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        while (pending.length >= begin.max_chunk_bytes) {
          // Copy: the source may reuse its buffers once we return to it.
          await send(
            Uint8Array.prototype.slice.call(pending, 0, begin.max_chunk_bytes),
          );
          pending = pending.subarray(begin.max_chunk_bytes);
        }
      }
      if (pending.length) await send(Uint8Array.prototype.slice.call(pending));
      return await m.call(
        Storage.ingestCommit,
        { ingest_id: begin.ingest_id, chunks: seq },
        { target: begin.instance },
      );
    } catch (e) {
      await m
        .call(
          Storage.ingestAbort,
          { ingest_id: begin.ingest_id },
          { target: begin.instance, timeoutMs: 5000 },
        )
        .catch(() => undefined);
      throw e;
    }
  }

  /** Removes an artifact that was stored for a registration that then failed. */
  async discard(artifactUri: string): Promise<void> {
    await this.messaging
      .call(Storage.deleteArtifact, { artifact_uri: artifactUri })
      .catch(() => undefined);
  }
}
