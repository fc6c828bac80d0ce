import { BaseRpcContext } from '@nestjs/microservices';

import type { BusMessage } from '../bus';

/** What a bus handler can ask besides its payload (`@Ctx() ctx: BusContext`). */
export class BusContext extends BaseRpcContext<[BusMessage, string]> {
  /** The message as it arrived: subject, headers, raw bytes. */
  getMessage(): BusMessage {
    return this.args[0];
  }

  /** The contract definition's name (`registry.model.create.v1`, ...): the pattern. */
  getPattern(): string {
    return this.args[1];
  }

  getHeaders(): Readonly<Record<string, string>> {
    return this.args[0].headers;
  }
}
