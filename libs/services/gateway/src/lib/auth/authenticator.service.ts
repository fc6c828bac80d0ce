import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';

import {
  API_KEY_SCOPES,
  ApiKeyScope,
  isPortfolioError,
  PortfolioError,
} from '@portfolio/contracts';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { RateLimiter } from '../limits/rate-limiter.service';
import { KeyDirectory, keyDigest } from './key-directory.service';
import { grants, Principal } from './scopes';
import type { WhoAmI } from './whoami.openapi';

const ANYONE: Principal = {
  name: 'anonymous (auth disabled)',
  keyId: null,
  scopes: API_KEY_SCOPES,
  rateLimit: null,
};

/**
 * The key a request presents, from its `Authorization` and `X-API-Key` headers (HTTP)
 * or metadata (gRPC): a Bearer token, else X-API-Key. Another Authorization scheme (a
 * proxy's Basic auth, say) does not hide X-API-Key.
 */
export function presentedKey(
  authorization: string | undefined,
  apiKey: string | undefined,
): string | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? '');
  if (bearer) return bearer[1].trim();
  return apiKey?.length ? apiKey : null;
}

/**
 * Who may call what, for every protocol the gateway speaks (the HTTP routes through
 * AuthGuard, gRPC through its own server): the bootstrap admin key from the
 * configuration, or a key registered through /admin/keys (looked up by its SHA-256),
 * with the scope asked for, within its rate limit. With `auth.enabled: false` everyone
 * is admin (local demos only).
 */
/** Keys whose digests the gateway keeps (see Authenticator.digests). */
const MAX_REMEMBERED_DIGESTS = 1024;

@Injectable()
export class Authenticator {
  private readonly bootstrap: Buffer | null;
  private readonly enabled: boolean;

  constructor(
    @Inject(GATEWAY_SETTINGS) settings: GatewaySettings,
    private readonly keys: KeyDirectory,
    private readonly limiter: RateLimiter,
  ) {
    this.enabled = settings.authEnabled;
    this.bootstrap = settings.adminKey
      ? Buffer.from(keyDigest(settings.adminKey), 'hex')
      : null;
  }

  /**
   * The principal behind `key`, once it is known to hold `scope` and is within its rate
   * limit. UNAUTHORIZED without a key (`howToSend` tells the client how to send one) or
   * with one that is not valid, FORBIDDEN without the scope, RATE_LIMITED over the limit.
   */
  /**
   * As admit, for an HTTP request: its key from `Authorization: Bearer` or `X-API-Key`,
   * and the principal kept on the request for the handlers (see principalOf).
   */
  async admitRequest(
    request: FastifyRequest,
    scope: ApiKeyScope,
  ): Promise<Principal> {
    const apiKey = request.headers['x-api-key'];
    const principal = await this.admit(
      presentedKey(
        request.headers.authorization,
        typeof apiKey === 'string' ? apiKey : undefined,
      ),
      scope,
      'send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
    );
    (request as FastifyRequest & { principal?: Principal }).principal =
      principal;
    return principal;
  }

  /**
   * Who the key of an HTTP request is (`GET /v1/auth/whoami`), needing no scope: a
   * valid key's name and scopes (within its rate limit, as any request), or that it is
   * invalid, or that none was sent, or that none is needed (auth off).
   */
  async describe(request: FastifyRequest): Promise<WhoAmI> {
    const nobody = { name: null, key_id: null };
    if (!this.enabled)
      return {
        auth_enabled: false,
        key: 'not_needed',
        ...nobody,
        scopes: [...API_KEY_SCOPES],
      };
    const apiKey = request.headers['x-api-key'];
    const key = presentedKey(
      request.headers.authorization,
      typeof apiKey === 'string' ? apiKey : undefined,
    );
    if (!key) return { auth_enabled: true, key: 'none', ...nobody, scopes: [] };
    let principal: Principal;
    try {
      principal = await this.identify(key, '');
    } catch (e) {
      if (isPortfolioError(e) && e.code === 'UNAUTHORIZED')
        return { auth_enabled: true, key: 'invalid', ...nobody, scopes: [] };
      throw e;
    }
    await this.limiter.admit(principal);
    return {
      auth_enabled: true,
      key: 'valid',
      name: principal.name,
      key_id: principal.keyId,
      scopes: [...principal.scopes],
    };
  }

  async admit(
    key: string | null,
    scope: ApiKeyScope,
    howToSend: string,
  ): Promise<Principal> {
    const principal = this.enabled
      ? await this.identify(key, howToSend)
      : ANYONE;
    if (!grants(principal.scopes, scope))
      throw new PortfolioError(
        'FORBIDDEN',
        `the API key "${principal.name}" does not have the "${scope}" scope this endpoint needs`,
        { needed_scope: scope },
      );
    await this.limiter.admit(principal);
    return principal;
  }

  /**
   * The digests of keys that proved valid, so that a client's every request does not
   * hash its key again (a SHA-256 was half of the guard's time on the hot path,
   * profiled). Validity is still checked each time (KeyDirectory): a revoked key fails.
   * Unknown keys are hashed each time and never kept, so random keys cannot fill it.
   */
  private readonly digests = new Map<string, string>();

  private remember(key: string, digest: string): void {
    if (this.digests.has(key)) return;
    if (this.digests.size >= MAX_REMEMBERED_DIGESTS) this.digests.clear();
    this.digests.set(key, digest);
  }

  private async identify(
    key: string | null,
    howToSend: string,
  ): Promise<Principal> {
    if (!key)
      throw new PortfolioError(
        'UNAUTHORIZED',
        `this endpoint needs an API key: ${howToSend}`,
      );
    const digest = this.digests.get(key) ?? keyDigest(key);
    // Digests compared, so the time taken says nothing about the key's length.
    if (
      this.bootstrap &&
      timingSafeEqual(Buffer.from(digest, 'hex'), this.bootstrap)
    ) {
      this.remember(key, digest);
      return {
        name: 'bootstrap',
        keyId: null,
        scopes: ['admin'],
        rateLimit: null,
      };
    }
    const record = await this.keys.find(digest);
    if (!record)
      throw new PortfolioError('UNAUTHORIZED', 'the API key is not valid');
    this.remember(key, digest);
    return {
      name: record.name,
      keyId: record.id,
      scopes: record.scopes,
      rateLimit: record.rate_limit,
    };
  }
}
