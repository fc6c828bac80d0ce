import { Api, ApiError } from './api';

/** One message of a `text/event-stream`. */
export interface SseMessage {
  /** `message` when the server named none. */
  readonly event: string;
  readonly data: string;
  /** The stream's last event id after this message ('' when none was ever given). */
  readonly lastEventId: string;
}

/**
 * The WHATWG's event-stream format, read incrementally: text in (as it arrives, cut
 * anywhere, even between a CR and its LF), messages out. Comments (`:`) are skipped,
 * `retry:` is kept in `retryMs`, a message without data is not dispatched.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private lastEventId = '';
  retryMs: number | null = null;

  push(text: string): SseMessage[] {
    this.buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const lf = this.buffer.indexOf('\n', start);
      const cr = this.buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for more.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else if (lf >= 0) {
        end = lf;
        next = lf + 1;
      } else break;
      const message = this.line(this.buffer.slice(start, end));
      if (message) out.push(message);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      const data = this.data;
      const event = this.event || 'message';
      this.data = [];
      this.event = '';
      return data.length === 0
        ? null
        : { event, data: data.join('\n'), lastEventId: this.lastEventId };
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value))
      this.retryMs = Number(value);
    return null;
  }
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'refused';

/** Waits before the next try: the server's `retry`, doubled per failure, at most 30 s. */
export function backoffMs(retryMs: number, failures: number): number {
  return Math.min(30_000, retryMs * 2 ** Math.min(failures, 10));
}

/**
 * A server-sent event stream read through fetch, kept open: when it ends or fails it is
 * opened again (after backoffMs) with `Last-Event-ID`, so nothing the server still holds
 * is missed. A refusal (401, 403) stops it: the key is wrong, trying again will not help.
 */
export class EventStreamClient {
  private abort: AbortController | null = null;
  private stopped = false;
  private lastEventId: string | null = null;

  constructor(
    private readonly api: Api,
    private readonly url: string,
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onState: (state: StreamState, detail?: string) => void,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    let retryMs = 2000;
    let failures = 0;
    while (!this.stopped) {
      this.abort = new AbortController();
      this.onState(failures === 0 ? 'connecting' : 'reconnecting');
      const parser = new SseParser();
      try {
        const res = await this.api.stream(
          this.url,
          this.lastEventId,
          this.abort.signal,
        );
        this.onState('live');
        failures = 0;
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const m of parser.push(
            decoder.decode(value, { stream: true }),
          )) {
            if (m.lastEventId) this.lastEventId = m.lastEventId;
            this.onMessage(m);
          }
          retryMs = parser.retryMs ?? retryMs;
        }
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
          this.onState('refused', e.message);
          return;
        }
      }
      if (this.stopped) return;
      failures++;
      this.onState('reconnecting');
      await new Promise((r) => setTimeout(r, backoffMs(retryMs, failures - 1)));
    }
  }
}
