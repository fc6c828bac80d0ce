import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

import { ApiError, NetworkError } from './errors';

export interface StreamBody {
  readonly stream: Readable;
  readonly contentType: string;
  /** Sent as Content-Length when known; otherwise the body is chunked. */
  readonly length?: number;
}

export interface RequestOptions {
  readonly method?: string;
  readonly json?: unknown;
  readonly body?: StreamBody;
  readonly query?: readonly [string, string][];
}

export interface Answer<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/**
 * The admin API over plain HTTP (node:http, so that uploads stream with
 * backpressure). Every answer with a status of 400 or more becomes an ApiError
 * (with the API's `error.code` and `error.message`), every failure to get an
 * answer a NetworkError.
 */
export class ApiClient {
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly key?: string,
  ) {
    try {
      this.base = new URL(baseUrl);
    } catch {
      throw new TypeError(`--url: not a URL: ${baseUrl}`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new TypeError(`--url: not an http(s) URL: ${baseUrl}`);
  }

  url(path: string, query: readonly [string, string][] = []): URL {
    const url = new URL(this.base.href.replace(/\/+$/, '') + path);
    for (const [k, v] of query) url.searchParams.append(k, v);
    return url;
  }

  async request<T = unknown>(
    path: string,
    options: RequestOptions = {},
  ): Promise<Answer<T>> {
    const url = this.url(path, options.query);
    const headers: Record<string, string | number> = {
      Accept: 'application/json',
    };
    if (this.key) headers['Authorization'] = `Bearer ${this.key}`;
    let text: Buffer | undefined;
    if (options.json !== undefined) {
      text = Buffer.from(JSON.stringify(options.json));
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = text.length;
    } else if (options.body) {
      headers['Content-Type'] = options.body.contentType;
      if (options.body.length !== undefined)
        headers['Content-Length'] = options.body.length;
    }
    const method = options.method ?? (text || options.body ? 'POST' : 'GET');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

    const { status, raw } = await new Promise<{ status: number; raw: string }>(
      (resolve, reject) => {
        let answered = false;
        const fail = (err: Error) =>
          reject(
            new NetworkError(
              `no answer from ${url.origin}: ${describeNetworkError(err)}`,
            ),
          );
        // agent: false: one connection per request, none kept open after it.
        const req = send(
          url,
          { method, headers, agent: false },
          (res: IncomingMessage) => {
            answered = true;
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', fail);
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                raw: Buffer.concat(chunks).toString('utf8'),
              }),
            );
          },
        );
        req.on('error', (err) => {
          // The server may answer (413, 404, ...) and close before the upload ends.
          if (!answered) fail(err);
        });
        if (options.body) {
          pipeline(options.body.stream, req).catch((err: Error) => {
            if (answered) return;
            if (isLocalStreamError(err)) reject(err);
            else fail(err);
            req.destroy();
          });
        } else {
          req.end(text);
        }
      },
    );

    let body: unknown = raw;
    try {
      body = raw === '' ? null : JSON.parse(raw);
    } catch {
      // not JSON: keep the text
    }
    if (status >= 400) throw toApiError(status, body);
    return { status, body: body as T };
  }
}

function isLocalStreamError(err: Error & { syscall?: string }): boolean {
  return err.syscall === 'open' || err.syscall === 'read';
}

function describeNetworkError(err: Error & { code?: string }): string {
  if (err instanceof AggregateError && err.errors.length > 0)
    return describeNetworkError(err.errors[0] as Error);
  return err.code && !err.message.includes(err.code)
    ? `${err.code} ${err.message}`.trim()
    : err.message;
}

export function toApiError(status: number, body: unknown): ApiError {
  const error =
    typeof body === 'object' && body !== null && 'error' in body
      ? (body as { error: unknown }).error
      : undefined;
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    return new ApiError(
      status,
      typeof code === 'string' ? code : `HTTP_${status}`,
      typeof message === 'string' ? message : `HTTP ${status}`,
      body,
    );
  }
  const text =
    typeof error === 'string'
      ? error
      : typeof body === 'string' && body.trim() !== ''
        ? body.trim().slice(0, 200)
        : `HTTP ${status}`;
  return new ApiError(status, `HTTP_${status}`, text, body);
}
