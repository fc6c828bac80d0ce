import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';

import { API_KEY_SCOPES, PortfolioError } from '@portfolio/contracts';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { RateLimiter } from '../limits/rate-limiter.service';
import { KeyDirectory, keyDigest } from './key-directory.service';
import { grants, Principal, RouteAccess, SCOPE_METADATA } from './scopes';

const ANYONE: Principal = {
  name: 'anonymous (auth disabled)',
  keyId: null,
  scopes: API_KEY_SCOPES,
  rateLimit: null,
};

/** The principal the guard let in, for the handlers (audit, rate limits). */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as FastifyRequest & { principal?: Principal }).principal;
}

/**
 * Every route needs a key with its scope (see Access), health excepted: the bootstrap
 * admin key from the configuration, or a key registered through /admin/keys (looked up
 * by its SHA-256). 401 without a key or with one that is not valid, 403 with a key that
 * lacks the scope, 429 over the key's rate limit (see RateLimiter). With
 * `auth.enabled: false` everyone is admin (local demos only).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly bootstrap: Buffer | null;
  private readonly enabled: boolean;

  constructor(
    @Inject(GATEWAY_SETTINGS) settings: GatewaySettings,
    private readonly reflector: Reflector,
    private readonly keys: KeyDirectory,
    private readonly limiter: RateLimiter,
  ) {
    this.enabled = settings.authEnabled;
    this.bootstrap = settings.adminKey
      ? Buffer.from(keyDigest(settings.adminKey), 'hex')
      : null;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(
      SCOPE_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (access === undefined)
      // A route that does not say who may call it is a bug: closed, loudly.
      throw new PortfolioError(
        'INTERNAL',
        `route ${context.getClass().name}.${context.getHandler().name} declares no scope`,
      );
    if (access === 'public') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = this.enabled ? await this.identify(request) : ANYONE;
    if (!grants(principal.scopes, access))
      throw new PortfolioError(
        'FORBIDDEN',
        `the API key "${principal.name}" does not have the "${access}" scope this endpoint needs`,
        { needed_scope: access },
      );
    await this.limiter.admit(principal);
    (request as FastifyRequest & { principal?: Principal }).principal =
      principal;
    return true;
  }

  private async identify(request: FastifyRequest): Promise<Principal> {
    const key = presentedKey(request);
    if (!key)
      throw new PortfolioError(
        'UNAUTHORIZED',
        'this endpoint needs an API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      );
    const digest = keyDigest(key);
    // Digests compared, so the time taken says nothing about the key's length.
    if (
      this.bootstrap &&
      timingSafeEqual(Buffer.from(digest, 'hex'), this.bootstrap)
    )
      return {
        name: 'bootstrap',
        keyId: null,
        scopes: ['admin'],
        rateLimit: null,
      };
    const record = await this.keys.find(digest);
    if (!record)
      throw new PortfolioError('UNAUTHORIZED', 'the API key is not valid');
    return {
      name: record.name,
      keyId: record.id,
      scopes: record.scopes,
      rateLimit: record.rate_limit,
    };
  }
}

export function presentedKey(request: FastifyRequest): string | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(
    request.headers.authorization?.trim() ?? '',
  );
  if (bearer) return bearer[1].trim();
  // Another Authorization scheme (a proxy's Basic auth, say) does not hide X-API-Key.
  const header = request.headers['x-api-key'];
  return typeof header === 'string' && header.length ? header : null;
}
