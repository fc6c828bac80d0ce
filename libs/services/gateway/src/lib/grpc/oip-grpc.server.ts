import {
  Metadata,
  Server,
  ServiceDefinition,
  ServerCredentials,
  ServerUnaryCall,
  sendUnaryData,
  status,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  INestApplicationContext,
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';

import { PortfolioError } from '@portfolio/contracts';

import { performance } from 'node:perf_hooks';

import { Authenticator, presentedKey } from '../auth/authenticator.service';
import { RouteAccess } from '../auth/scopes';
import { GATEWAY_SETTINGS, GatewaySettings } from '../gateway.settings';
import { REQUEST_ID, shownHost } from '../http/gateway-http';
import { GatewayMetrics } from '../metrics/gateway-metrics';
import { parseVersion } from '../v1/v1.controller';
import {
  OpenInferenceService,
  SERVER_METADATA,
} from '../v2/open-inference.service';
import { grpcFailure, trailers } from './grpc-status';
import {
  decodeModelInferRequest,
  encodeModelInferResponse,
} from './oip-grpc.codec';
import { ModelInferRequest, oipServiceDefinition } from './oip-grpc.proto';

/**
 * Who may call each method, as AuthGuard's Access does for the REST routes: health is
 * open, metadata and readiness need `read`, inference `predict`. A method the .proto
 * declares must be here (the inventory test checks both ways).
 */
export const GRPC_ACCESS = {
  ServerLive: 'public',
  ServerReady: 'public',
  ServerMetadata: 'read',
  ModelMetadata: 'read',
  ModelReady: 'read',
  ModelInfer: 'predict',
} as const satisfies Record<string, RouteAccess>;

export type GrpcMethod = keyof typeof GRPC_ACCESS;

/** The most bytes a gRPC message may have (grpc-js counts in a signed 32-bit int). */
const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/**
 * A request message that could not be decoded: handed to the method instead of an
 * error from the deserializer, which grpc-js would answer as INTERNAL (the server's
 * fault) before any key is checked. The method refuses it, after the key, as a bad
 * request: INVALID_ARGUMENT.
 */
class UndecodableMessage {
  constructor(readonly reason: string) {}
}

/** The service with request deserializers that never throw (see UndecodableMessage). */
function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([method, d]) => [
      method,
      {
        ...d,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return d.requestDeserialize(bytes);
          } catch (e) {
            return new UndecodableMessage(
              e instanceof Error ? e.message : String(e),
            );
          }
        },
      },
    ]),
  );
}

/** How long in-flight calls may take to finish when the gateway stops. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`, see
 * grpc_predict_v2.proto) on a port of its own. Each method answers through
 * OpenInferenceService, as the REST `/v2` routes do, so models, versions, routing,
 * loading and retries are theirs; keys, scopes and rate limits are AuthGuard's
 * (Authenticator), read from the call's metadata. Refusals are gRPC statuses with the
 * REST message (grpc-status.ts). Messages are capped at `gateway.body_limit`, as
 * request bodies are.
 */
@Injectable()
export class OipGrpcServer implements OnModuleDestroy {
  private readonly logger = new Logger('Gateway');
  private server: Server | null = null;

  constructor(
    @Inject(GATEWAY_SETTINGS) private readonly settings: GatewaySettings,
    private readonly oip: OpenInferenceService,
    private readonly authenticator: Authenticator,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Starts serving on `host:port` (0: any free port); resolves to the port bound. */
  async listen(host: string, port: number): Promise<number> {
    if (this.server) throw new Error('the gRPC server is already listening');
    const limit = Math.min(this.settings.bodyLimitBytes, MAX_MESSAGE_BYTES);
    const server = new Server({
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    server.addService(
      tolerantDefinition(oipServiceDefinition()),
      this.implementation(),
    );
    const address = host.includes(':')
      ? `[${host}]:${port}`
      : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    this.server = server;
    return bound;
  }

  /** Stops taking calls (before the bus goes away), letting those in flight finish. */
  async onModuleDestroy(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  private implementation(): UntypedServiceImplementation {
    const handlers: Record<GrpcMethod, (request: never) => Promise<unknown>> = {
      ServerLive: async () => ({ live: true }),
      ServerReady: async () => ({
        ready: (await this.oip.serverReadiness()).ready,
      }),
      ServerMetadata: async () => ({
        name: SERVER_METADATA.name,
        version: SERVER_METADATA.version,
        // binary_tensor_data is REST's; gRPC has raw contents in the protocol itself.
        extensions: [],
      }),
      ModelMetadata: (r: { name: string; version: string }) =>
        this.oip.modelMetadata(r.name, parseVersion(r.version)),
      ModelReady: async (r: { name: string; version: string }) => {
        await this.oip.modelReady(r.name, parseVersion(r.version));
        return { ready: true };
      },
      ModelInfer: (r: ModelInferRequest) => this.infer(r),
    };
    return Object.fromEntries(
      Object.entries(handlers).map(([method, handle]) => [
        method,
        this.unary(method as GrpcMethod, handle),
      ]),
    );
  }

  private async infer(request: ModelInferRequest) {
    const name = request.model_name;
    const {
      request: decoded,
      version,
      outputs,
    } = await this.oip.infer(
      name,
      parseVersion(request.model_version),
      (signature) => decodeModelInferRequest(request, signature, name),
    );
    return encodeModelInferResponse({
      modelId: name,
      version,
      id: decoded.id,
      outputs,
      raw: decoded.raw,
    });
  }

  /**
   * One unary method: the caller admitted for the method's scope, then the handler;
   * any failure answered as its gRPC status (an internal one logged under the request
   * id, and told as "internal error" only). The request id (the client's
   * `x-request-id` when sensible, else a new one) is in the trailers either way.
   */
  private unary(
    method: GrpcMethod,
    handle: (request: never) => Promise<unknown>,
  ) {
    const access: RouteAccess = GRPC_ACCESS[method];
    return (
      call: ServerUnaryCall<unknown, unknown>,
      callback: sendUnaryData<unknown>,
    ): void => {
      const started = performance.now();
      const observe = (code: number) =>
        this.metrics.observeGrpc(
          method,
          status[code] ?? String(code),
          (performance.now() - started) / 1000,
        );
      const given = first(call.metadata, 'x-request-id');
      const requestId =
        given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
      const run = async () => {
        if (access !== 'public')
          await this.authenticator.admit(
            presentedKey(
              first(call.metadata, 'authorization'),
              first(call.metadata, 'x-api-key'),
            ),
            access,
            'send the metadata "authorization: Bearer <key>" or "x-api-key: <key>"',
          );
        if (call.request instanceof UndecodableMessage)
          throw new PortfolioError(
            'INVALID_REQUEST',
            `the message is not a valid inference.${method}Request (${call.request.reason})`,
          );
        return handle(call.request as never);
      };
      run().then(
        (response) => {
          observe(status.OK);
          callback(null, response, trailers(requestId));
        },
        (e: unknown) => {
          const failure = grpcFailure(e);
          observe(failure.code);
          if (failure.internal)
            this.logger.error(
              `gRPC ${method} [${requestId}]: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
              e instanceof Error ? e.stack : undefined,
              { request_id: requestId },
            );
          callback({
            code: failure.code,
            details: failure.details,
            metadata: trailers(requestId, failure.retryAfterSeconds),
          });
        },
      );
    };
  }
}

/** The first text value of a metadata key (binary `-bin` keys are not read here). */
function first(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Serves the gRPC protocol of the gateway in `app` on `host:port` (0: any free port),
 * and says where; resolves to the address to print (`127.0.0.1:8081`).
 */
export async function listenGrpc(
  app: INestApplicationContext,
  host: string,
  port: number,
): Promise<string> {
  const bound = await app.get(OipGrpcServer).listen(host, port);
  const address = `${shownHost(host)}:${bound}`;
  new Logger('Gateway').log(
    `gRPC (Open Inference Protocol) listening on ${address}`,
  );
  return address;
}
