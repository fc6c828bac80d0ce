import { Inject, Injectable } from '@nestjs/common';

import {
  AdminLoadResponse,
  AdminUnloadResponse,
  CacheManager,
  PortfolioError,
  Registry,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import {
  assertModelId,
  ModelCatalogService,
} from '../catalog/model-catalog.service';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { LoadBody, UnloadBody } from './admin.dto';

/**
 * An operator's loads and unloads, carried out by the cache-manager. The model (and the
 * version, when named) must be registered: the registry's 404s come first, so a typo
 * never reaches the cache. A load that does not fit is the cache-manager's 507.
 */
@Injectable()
export class CacheAdminService {
  constructor(
    private readonly messaging: Messaging,
    private readonly catalog: ModelCatalogService,
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
  ) {}

  /** Loads the version (default: the one predict would use) on `copies` runtimes. */
  async load(modelId: string, body: LoadBody): Promise<AdminLoadResponse> {
    assertModelId(modelId);
    const { version } = await this.catalog.resolve(modelId, body.version);
    const copies = body.copies ?? 1;
    return this.messaging
      .call(
        CacheManager.load,
        { model_id: modelId, version: version.version, copies },
        // Copies are placed one after the other, each a load.
        { timeoutMs: this.settings.loadTimeoutMs * copies },
      )
      .catch((e: unknown) => {
        throw unreachable(e, `${modelId}@${version.version} was not loaded`);
      });
  }

  /** Unloads every copy of the version, or of every version; waits for their requests. */
  async unload(
    modelId: string,
    body: UnloadBody,
  ): Promise<AdminUnloadResponse> {
    assertModelId(modelId);
    if (body.version === undefined)
      await this.messaging.call(Registry.getModel, { id: modelId });
    else
      await this.messaging.call(Registry.resolveVersion, {
        model_id: modelId,
        version: body.version,
      });
    return this.messaging
      .call(
        CacheManager.unload,
        { model_id: modelId, version: body.version },
        { timeoutMs: this.settings.loadTimeoutMs },
      )
      .catch((e: unknown) => {
        throw unreachable(e, `nothing of ${modelId} was unloaded`);
      });
  }
}

/** "Nobody serves cache.load" says too little to an operator. */
function unreachable(e: unknown, consequence: string): unknown {
  return e instanceof PortfolioError &&
    e.code === 'SERVICE_UNAVAILABLE' &&
    e.details?.['bus'] === 'no_responders'
    ? new PortfolioError(
        'SERVICE_UNAVAILABLE',
        `the cache-manager is not reachable; ${consequence}`,
      )
    : e;
}
