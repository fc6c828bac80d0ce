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
    // Pieces as they came, cut into chunks with one copy each (appending piece by
    // piece to one buffer copied each chunk's bytes over and over).
    const pieces: Uint8Array[] = [];
    let buffered = 0;
    const take = (size: number): Uint8Array => {
      const chunk = new Uint8Array(size);
      let filled = 0;
      while (filled < size) {
        const head = pieces[0];
        const n = Math.min(head.byteLength, size - filled);
        chunk.set(head.subarray(0, n), filled);
        filled += n;
        if (n === head.byteLength) pieces.shift();
        else pieces[0] = head.subarray(n);
      }
      buffered -= size;
      return chunk;
    };
    const send = async (chunk: Uint8Array) => {
      await m.requestRaw(subject, chunk, {
        name: 'storage.<target>.ingest.chunk.v1',
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
            `the artifact is larger than the limit of ${options.maxBytes} bytes (gateway.upload_limit)`,
          );
        }
        pieces.push(piece);
        buffered += piece.byteLength;
        while (buffered >= begin.max_chunk_bytes)
          await send(take(begin.max_chunk_bytes));
      }
      if (buffered > 0) await send(take(buffered));
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
