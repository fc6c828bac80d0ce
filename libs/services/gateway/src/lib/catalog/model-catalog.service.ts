import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import {
  isAliasName,
  isModelId,
  PortfolioError,
  processedSignature,
  Registry,
  ResolveVersionResponse,
} from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

/** How long a resolved (model, version) is trusted without a change event. */
const TTL_MS = 5000;

interface Entry {
  value: Promise<ResolveVersionResponse>;
  expiresAt: number;
}

/**
 * The gateway's cached view of the registry for the request path: (model id, version or
 * default) -> model and version records. Entries expire after a few seconds and are
 * dropped at once when the registry announces a change to the model.
 */
@Injectable()
export class ModelCatalogService
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private readonly cache = new Map<string, Entry>();
  private subscription: BusSubscription | null = null;
  private stopReconnects: (() => void) | null = null;

  constructor(private readonly messaging: Messaging) {}

  onApplicationBootstrap(): void {
    this.subscription = this.messaging.on(Registry.modelChanged, (e) =>
      this.invalidate(e.model_id),
    );
    // Changes announced while the bus was away were missed: read everything again.
    this.stopReconnects = this.messaging.bus.onReconnect(() =>
      this.cache.clear(),
    );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
    this.stopReconnects?.();
  }

  /**
   * A version by number, by alias, or the default (alias `production` when set, else
   * the highest ready version); see Registry.resolveVersion.
   */
  resolve(
    modelId: string,
    version?: number,
    alias?: string,
  ): Promise<ResolveVersionResponse> {
    assertModelId(modelId);
    const k = `${modelId}@${version ?? (alias === undefined ? 'default' : `alias:${alias}`)}`;
    const now = Date.now();
    const hit = this.cache.get(k);
    if (hit && hit.expiresAt > now) return hit.value;
    const value = this.messaging
      .call(Registry.resolveVersion, {
        model_id: modelId,
        version,
        alias,
      })
      .then(asServed);
    this.cache.set(k, { value, expiresAt: now + TTL_MS });
    // Failures are not cached: the next request asks again.
    value.catch(
      () => this.cache.get(k)?.value === value && this.cache.delete(k),
    );
    return value;
  }

  invalidate(modelId: string): void {
    for (const k of this.cache.keys())
      if (k.startsWith(`${modelId}@`)) this.cache.delete(k);
  }
}

/**
 * The version as the runtimes serve it: its signature with the outputs the model's
 * processing adds or renames (class labels), which requests may ask for by name.
 */
function asServed(r: ResolveVersionResponse): ResolveVersionResponse {
  const signature = processedSignature(r.version.signature, r.model.processing);
  return signature === r.version.signature
    ? r
    : { ...r, version: { ...r.version, signature } };
}

/** Model ids are checked before they reach the bus, storage paths or SQL. */
export function assertModelId(id: string): void {
  if (!isModelId(id)) {
    const shown: string = typeof id === 'string' ? id : String(id);
    throw new PortfolioError(
      'INVALID_MODEL_ID',
      `"${shown.length > 140 ? `${shown.slice(0, 140)}...` : shown}" is not a valid model id (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters)`,
    );
  }
}

/** Alias names (`?alias=`, admin paths) are checked before they reach the bus. */
export function assertAliasName(alias: string): void {
  if (!isAliasName(alias))
    throw new PortfolioError(
      'INVALID_REQUEST',
      `alias must be 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit; got "${String(alias).slice(0, 80)}"`,
    );
}
