import { z } from 'zod';

/**
 * A request/reply message pair on the bus. The subject always starts with the
 * deployment's prefix (`nats.subject_prefix`) so that several deployments, or test
 * runs, can share one NATS server. Subjects end in a version (`.v1`): a breaking
 * change to a schema gets a new subject, never an edit in place.
 */
export interface RpcDefinition<Req, Res> {
  readonly kind: 'rpc';
  readonly name: string;
  /** `target` addresses one instance (a runtime's node id); absent for service-wide subjects. */
  readonly subject: (prefix: string, target?: string) => string;
  /** Queue group for service-wide subjects: exactly one instance of the service answers. */
  readonly queue: string | null;
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
}

/** A fire-and-forget message; every subscriber receives it. */
export interface EventDefinition<T> {
  readonly kind: 'event';
  readonly name: string;
  readonly subject: (prefix: string) => string;
  readonly payload: z.ZodType<T>;
}

export type RpcRequest<D> =
  D extends RpcDefinition<infer Req, unknown> ? Req : never;
export type RpcResponse<D> =
  D extends RpcDefinition<unknown, infer Res> ? Res : never;
export type EventPayload<D> = D extends EventDefinition<infer T> ? T : never;

/** `service.thing.verb.v1` under the prefix, answered by one member of `queue`. */
export function serviceRpc<Req, Res>(
  path: string,
  queue: string,
  request: z.ZodType<Req>,
  response: z.ZodType<Res>,
): RpcDefinition<Req, Res> {
  return {
    kind: 'rpc',
    name: path,
    subject: (prefix) => `${prefix}.${path}`,
    queue,
    request,
    response,
  };
}

/** `<service>.<target>.<rest>` under the prefix: addressed to one instance, no queue group. */
export function targetedRpc<Req, Res>(
  service: string,
  rest: string,
  request: z.ZodType<Req>,
  response: z.ZodType<Res>,
): RpcDefinition<Req, Res> {
  return {
    kind: 'rpc',
    name: `${service}.<target>.${rest}`,
    subject: (prefix, target) => {
      if (!target)
        throw new Error(`${service}.${rest} needs a target instance`);
      return `${prefix}.${service}.${target}.${rest}`;
    },
    queue: null,
    request,
    response,
  };
}

export function event<T>(
  path: string,
  payload: z.ZodType<T>,
): EventDefinition<T> {
  return {
    kind: 'event',
    name: path,
    subject: (prefix) => `${prefix}.${path}`,
    payload,
  };
}
