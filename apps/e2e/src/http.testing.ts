/** Minimal JSON-over-HTTP helpers for the e2e tests (Node's fetch). */
export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

const keys = new Map<string, string>();

/**
 * Requests to this server send this API key unless they name another (`key`) or none
 * (`key: null`). Every cluster the e2e tests start has auth on, as a deployment has.
 */
export function useKey(baseUrl: string, key: string): void {
  keys.set(new URL(baseUrl).origin, key);
}

/** The header that sends the key registered for this server (see useKey). */
export function keyHeader(url: string): Record<string, string> {
  const key = keys.get(new URL(url).origin);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function http<T = Record<string, unknown>>(
  url: string,
  init: {
    method?: string;
    json?: unknown;
    body?: Uint8Array;
    contentType?: string;
    key?: string | null;
  } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  const key = init.key === undefined ? keys.get(new URL(url).origin) : init.key;
  if (key) headers['Authorization'] = `Bearer ${key}`;
  let body: string | Uint8Array | undefined;
  if (init.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.body !== undefined) {
    headers['Content-Type'] = init.contentType ?? 'application/octet-stream';
    body = init.body;
  }
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    details?: Record<string, unknown>;
    request_id: string;
  };
}
