import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';

import { PortfolioError } from '@portfolio/contracts';

import { Authenticator } from './authenticator.service';
import { Principal, RouteAccess, SCOPE_METADATA } from './scopes';

/** The principal the guard let in, for the handlers (audit, rate limits). */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return (request as FastifyRequest & { principal?: Principal }).principal;
}

/**
 * Every route needs a key with its scope (see Access), health excepted: 401 without a
 * key or with one that is not valid, 403 with a key that lacks the scope, 429 over the
 * key's rate limit (see Authenticator, which gRPC shares).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Bus handlers of other services in the same app (the standalone one) are not
    // routes: what reaches them was admitted by this guard at the HTTP edge.
    if (context.getType() !== 'http') return true;
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
    await this.authenticator.admitRequest(
      context.switchToHttp().getRequest<FastifyRequest>(),
      access,
    );
    return true;
  }
}
