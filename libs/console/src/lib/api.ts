import type {
  AliasAnswer,
  ClusterStatus,
  LoadAnswer,
  ModelMetadata,
  TrafficStats,
  UnloadAnswer,
  WhoAmI,
} from './types';

/** A refusal from the server: its status, and the code and sentence of its error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where the API key lives between page loads of this tab (sessionStorage). */
export interface KeyStore {
  get(): string | null;
  set(key: string | null): void;
}

const KEY_ITEM = 'portfolio.console.key';

/** The key kept in `storage` (the tab's sessionStorage): gone when the tab closes. */
export function sessionKeyStore(storage: Storage): KeyStore {
  return {
    get: () => storage.getItem(KEY_ITEM),
    set: (key) =>
      key === null
        ? storage.removeItem(KEY_ITEM)
        : storage.setItem(KEY_ITEM, key),
  };
}

/** The sentence of an error body (`{"error": {"code", "message"}}`), else the status. */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = `the server answered ${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as {
      error?: { code?: unknown; message?: unknown };
    };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // not JSON: the status says it
  }
  return new ApiError(res.status, code, message);
}

const path = (modelId: string) =>
  `/admin/models/${encodeURIComponent(modelId)}`;

/**
 * The HTTP API on this page's own origin, sending the kept key as
 * `Authorization: Bearer`. Every method throws ApiError on a refusal.
 */
export class Api {
  constructor(
    private readonly keys: KeyStore,
    private readonly fetcher: typeof fetch = (input, init) =>
      fetch(input, init),
  ) {}

  private headers(extra: Record<string, string> = {}): Headers {
    const headers = new Headers(extra);
    const key = this.keys.get();
    if (key) headers.set('Authorization', `Bearer ${key}`);
    return headers;
  }

  async request<T>(method: string, url: string, body?: unknown): Promise<T> {
    const res = await this.fetcher(url, {
      method,
      headers: this.headers(
        body === undefined ? {} : { 'Content-Type': 'application/json' },
      ),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as T;
  }

  whoami(): Promise<WhoAmI> {
    return this.request('GET', '/v1/auth/whoami');
  }

  status(): Promise<ClusterStatus> {
    return this.request('GET', '/v1/models/status');
  }

  metadata(modelId: string): Promise<ModelMetadata> {
    return this.request(
      'GET',
      `/v1/models/${encodeURIComponent(modelId)}/metadata`,
    );
  }

  stats(): Promise<TrafficStats> {
    return this.request('GET', '/v1/stats');
  }

  load(modelId: string, version: number): Promise<LoadAnswer> {
    return this.request('POST', `${path(modelId)}/load`, { version });
  }

  unload(modelId: string, version: number): Promise<UnloadAnswer> {
    return this.request('POST', `${path(modelId)}/unload`, { version });
  }

  /** Points `alias` (default `production`) at `version`. */
  promote(
    modelId: string,
    version: number,
    alias = 'production',
  ): Promise<AliasAnswer> {
    return this.request(
      'PUT',
      `${path(modelId)}/aliases/${encodeURIComponent(alias)}`,
      { version },
    );
  }

  /**
   * `GET url` as a server-sent event stream: a fetch (EventSource cannot send the
   * Authorization header), resuming after `lastEventId` when given. The response, once
   * its headers have come; its body is the stream.
   */
  async stream(
    url: string,
    lastEventId: string | null,
    signal: AbortSignal,
  ): Promise<Response> {
    const extra: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId) extra['Last-Event-ID'] = lastEventId;
    const res = await this.fetcher(url, {
      headers: this.headers(extra),
      cache: 'no-store',
      signal,
    });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new ApiError(res.status, 'NO_BODY', 'no stream');
    return res;
  }
}
