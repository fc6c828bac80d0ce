import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';

import { PortfolioError } from '@portfolio/contracts';

import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';

/**
 * The bootstrap admin key (scoped API keys come with the auth work). When configured,
 * it must come as `Authorization: Bearer <key>` or `X-API-Key: <key>`; without one
 * configured, `/admin` is open (the gateway warns at start).
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(@Inject(GATEWAY_SETTINGS) settings: GatewaySettings) {
    this.expected = settings.adminKey ? digest(settings.adminKey) : null;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const key = presentedKey(request);
    if (!key) {
      throw new PortfolioError(
        'UNAUTHORIZED',
        'this endpoint needs an API key: send "Authorization: Bearer <key>"',
      );
    }
    // Compare digests, so the comparison takes the same time whatever the key's length.
    if (!timingSafeEqual(digest(key), this.expected)) {
      throw new PortfolioError('UNAUTHORIZED', 'the API key is not valid');
    }
    return true;
  }
}

function presentedKey(request: FastifyRequest): string | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(
    request.headers.authorization?.trim() ?? '',
  );
  if (bearer) return bearer[1].trim();
  // Another Authorization scheme (a proxy's Basic auth, say) does not hide X-API-Key.
  const header = request.headers['x-api-key'];
  return typeof header === 'string' && header.length ? header : null;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
