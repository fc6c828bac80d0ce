import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';

import {
  ApiKeyChangedEvent,
  ApiKeys,
  RpcRequest,
  RpcResponse,
} from '@portfolio/contracts';
import { BusRpc, Messaging } from '@portfolio/messaging';

import { ApiKeysService } from './api-keys.service';

type Req<K extends keyof typeof ApiKeys> = RpcRequest<(typeof ApiKeys)[K]>;
type Res<K extends keyof typeof ApiKeys> = Promise<
  RpcResponse<(typeof ApiKeys)[K]>
>;

/** The API keys' bus surface; each change is announced so that gateways drop their cache. */
@Controller()
export class ApiKeysController {
  constructor(
    private readonly messaging: Messaging,
    private readonly keys: ApiKeysService,
  ) {}

  @BusRpc(ApiKeys.create)
  async create(@Payload() req: Req<'create'>): Res<'create'> {
    const key = await this.keys.create(req);
    this.changed({ id: key.id, key_sha256: req.key_sha256, change: 'created' });
    return { key };
  }

  @BusRpc(ApiKeys.list)
  async list(): Res<'list'> {
    return { keys: await this.keys.list() };
  }

  @BusRpc(ApiKeys.revoke)
  async revoke(@Payload() req: Req<'revoke'>): Res<'revoke'> {
    const { key, keySha256 } = await this.keys.revoke(req.id, req.actor);
    this.changed({ id: key.id, key_sha256: keySha256, change: 'revoked' });
    return { key };
  }

  @BusRpc(ApiKeys.lookup)
  async lookup(@Payload() req: Req<'lookup'>): Res<'lookup'> {
    return { key: await this.keys.lookup(req.key_sha256) };
  }

  private changed(event: ApiKeyChangedEvent): void {
    this.messaging.emit(ApiKeys.changed, event);
  }
}
