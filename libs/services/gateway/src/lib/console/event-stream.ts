import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PassThrough } from 'node:stream';

import { PortfolioError } from '@portfolio/contracts';

import { LoggedModelEvent, ModelEventLog } from './model-event-log';

/** Streams one gateway serves at once; past it, 503 (a console holds one). */
export const MAX_EVENT_STREAMS = 100;
/** A comment line this often, so that proxies and the client see the stream alive. */
export const HEARTBEAT_MS = 15_000;
/** What a client waits before it reconnects (the stream's `retry:` field). */
export const RECONNECT_MS = 2_000;
/**
 * Text a client has not read yet, past which its stream is closed rather than kept
 * growing (it reconnects with Last-Event-ID and gets what the log still holds).
 */
export const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * One message of a `text/event-stream` (the WHATWG's server-sent events): `id`, `event`
 * and one `data:` line per line of `data`, then a blank line. Fields must not hold
 * line breaks, which would end them early: ids and names are checked, data is split.
 */
export function sseMessage(message: {
  id?: string;
  event?: string;
  data: string;
}): string {
  const lines: string[] = [];
  for (const [field, value] of [
    ['id', message.id],
    ['event', message.event],
  ] as const) {
    if (value === undefined) continue;
    if (/[\r\n\0]/.test(value))
      throw new RangeError(`an SSE ${field} cannot hold a line break`);
    lines.push(`${field}: ${value}`);
  }
  for (const line of message.data.split(/\r\n|\r|\n/))
    lines.push(`data: ${line}`);
  return `${lines.join('\n')}\n\n`;
}

/** A model event as a stream message: its id, `event: model`, its JSON. */
export function modelEventMessage(event: LoggedModelEvent): string {
  return sseMessage({
    id: event.id,
    event: 'model',
    data: JSON.stringify(event),
  });
}

/** Whether the client asked for the live stream (`Accept: text/event-stream`). */
export function wantsEventStream(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && /\btext\/event-stream\b/i.test(accept);
}

/**
 * The live form of `GET /v1/models/events`: a `text/event-stream` that starts with the
 * events the log holds (after `Last-Event-ID`, when the client sends one it got from
 * this gateway), then carries each new one as it comes, with a comment every
 * HEARTBEAT_MS. Each stream costs a listener, a timer and what its client has not read
 * yet: at most MAX_EVENT_STREAMS of them, each closed past MAX_UNREAD_BYTES, and every
 * one closed (so the server can stop) when the module is destroyed. A stream whose
 * client goes away is cleaned up at once.
 */
@Injectable()
export class ModelEventStreams implements OnModuleDestroy {
  private readonly open = new Set<() => void>();

  constructor(private readonly log: ModelEventLog) {}

  get count(): number {
    return this.open.size;
  }

  /** The stream to send as `reply`'s body, its headers set on `reply`. */
  start(request: FastifyRequest, reply: FastifyReply): PassThrough {
    if (this.open.size >= MAX_EVENT_STREAMS)
      throw new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `this gateway already serves ${MAX_EVENT_STREAMS} event streams; try again later`,
        { limit: MAX_EVENT_STREAMS },
      );
    const lastEventId = request.headers['last-event-id'];
    const body = new PassThrough();
    let closed = false;
    const write = (text: string) => {
      if (closed) return;
      // What the socket has not taken yet waits in `body`: a client that stops reading
      // is let go rather than buffered without end.
      if (body.readableLength + body.writableLength > MAX_UNREAD_BYTES) {
        close();
        return;
      }
      body.write(text);
    };
    const heartbeat = setInterval(
      () => write(': keep-alive\n\n'),
      HEARTBEAT_MS,
    );
    heartbeat.unref();
    const unlisten = this.log.listen((event) =>
      write(modelEventMessage(event)),
    );
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unlisten();
      this.open.delete(close);
      body.end();
    };
    this.open.add(close);
    reply.raw.once('close', close);
    body.once('error', close);
    void reply
      .header('Content-Type', 'text/event-stream; charset=utf-8')
      .header('Cache-Control', 'no-cache, no-transform')
      // nginx buffers answers unless told not to; a stream must flow as written.
      .header('X-Accel-Buffering', 'no');
    write(`retry: ${RECONNECT_MS}\n\n`);
    for (const event of this.log.since(
      typeof lastEventId === 'string' ? lastEventId : undefined,
    ))
      write(modelEventMessage(event));
    return body;
  }

  onModuleDestroy(): void {
    for (const close of [...this.open]) close();
  }
}
