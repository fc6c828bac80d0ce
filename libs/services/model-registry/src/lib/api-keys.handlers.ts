import {
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import { ApiKeyChangedEvent, ApiKeys } from '@portfolio/contracts';
import { BusSubscription, Messaging } from '@portfolio/messaging';

import { ApiKeysService } from './api-keys.service';

/** The API keys' bus surface; each change is announced so that gateways drop their cache. */
@Injectable()
export class ApiKeysHandlers
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private subscriptions: BusSubscription[] = [];

  constructor(
    private readonly messaging: Messaging,
    private readonly keys: ApiKeysService,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.messaging;
    this.subscriptions = [
      m.serve(ApiKeys.create, async (req) => {
        const key = await this.keys.create(req);
        this.changed({
          id: key.id,
          key_sha256: req.key_sha256,
          change: 'created',
        });
        return { key };
      }),
      m.serve(ApiKeys.list, async () => ({ keys: await this.keys.list() })),
      m.serve(ApiKeys.revoke, async (req) => {
        const { key, keySha256 } = await this.keys.revoke(req.id, req.actor);
        this.changed({ id: key.id, key_sha256: keySha256, change: 'revoked' });
        return { key };
      }),
      m.serve(ApiKeys.lookup, async (req) => ({
        key: await this.keys.lookup(req.key_sha256),
      })),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }

  private changed(event: ApiKeyChangedEvent): void {
    this.messaging.emit(ApiKeys.changed, event);
  }
}
