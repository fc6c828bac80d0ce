/** Minimal JSON-over-HTTP helpers for the e2e tests (Node's fetch). */
export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export async function http<T = Record<string, unknown>>(
  url: string,
  init: {
    method?: string;
    json?: unknown;
    body?: Uint8Array;
    contentType?: string;
    key?: string;
  } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  if (init.key) headers['Authorization'] = `Bearer ${init.key}`;
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
