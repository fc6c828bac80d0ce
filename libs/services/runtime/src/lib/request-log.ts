import { Logger } from '@nestjs/common';
import { createWriteStream, mkdirSync, WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The runtime's request trace (`runtime.request_log`): one JSON line per request it
 * served, in the format the cache simulator replays (tools/cache-sim, trace.ts):
 * `{"time_ms", "model_id", "version", "size_bytes", "load_ms"}`. Appended through a
 * buffered stream, never awaited on the request path; a write error is logged once
 * and the trace stops, inference goes on.
 */
export class RequestLog {
  private readonly logger = new Logger('RequestLog');
  private stream: WriteStream | null;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'a' });
    this.stream.on('error', (e) => {
      this.logger.error(`request log ${path} stopped: ${e.message}`);
      this.stream = null;
    });
  }

  record(
    timeMs: number,
    modelId: string,
    version: number,
    sizeBytes: number,
    loadMs: number | null,
  ): void {
    this.stream?.write(
      `${JSON.stringify({ time_ms: timeMs, model_id: modelId, version, size_bytes: sizeBytes, load_ms: loadMs ?? 0 })}\n`,
    );
  }

  close(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    return new Promise((resolve) => (stream ? stream.end(resolve) : resolve()));
  }
}
