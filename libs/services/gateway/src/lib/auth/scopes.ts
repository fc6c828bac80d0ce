import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

import type { ApiKeyRecord, ApiKeyScope } from '@portfolio/contracts';

export const SCOPE_METADATA = 'portfolio:scope';

/** The OpenAPI extension that carries a route's access into the document (see setUpOpenApi). */
export const SCOPE_EXTENSION = 'x-required-scope';

/** What a route asks of the key: a scope, or nothing at all (`public`: health only). */
export type RouteAccess = ApiKeyScope | 'public';

/**
 * The scope a controller's routes (or one route) need. Every route must say: the guard
 * refuses a route that names none, so a new route cannot be open by omission. The same
 * value goes into the OpenAPI document as `x-required-scope` (a route's own wins over
 * its controller's, as in the guard), from which the document's security is derived.
 */
export const Access = (access: RouteAccess) =>
  applyDecorators(
    SetMetadata(SCOPE_METADATA, access),
    ApiExtension(SCOPE_EXTENSION, access),
  );

/** Who sent a request: the bootstrap admin key, a registered key, or nobody (auth off). */
export interface Principal {
  /** The key's name (`bootstrap` for the configured admin key). */
  readonly name: string;
  readonly keyId: string | null;
  readonly scopes: readonly ApiKeyScope[];
  readonly rateLimit: ApiKeyRecord['rate_limit'];
}

/** `admin` may do everything; the other scopes only what they name. */
export function grants(
  scopes: readonly ApiKeyScope[],
  needed: ApiKeyScope,
): boolean {
  return scopes.includes('admin') || scopes.includes(needed);
}

/** What an operator must hear at start about how requests are let in (one line each). */
export function authWarnings(
  settings: { authEnabled: boolean; adminKey: string | null },
  where: string,
): string[] {
  if (!settings.authEnabled)
    return [
      `AUTH IS DISABLED (auth.enabled: false): every request to ${where} is treated as admin, with no key; anyone who can reach it can register, load and delete models. For local demos only.`,
    ];
  if (!settings.adminKey)
    return [
      'no bootstrap admin key (gateway.admin_key or PORTFOLIO_ADMIN_KEY): only API keys registered earlier are accepted, and no new one can be created',
    ];
  return [];
}
