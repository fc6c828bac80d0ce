import {
  credentials,
  loadPackageDefinition,
  Metadata,
  ServiceClientConstructor,
  ServiceError,
} from '@grpc/grpc-js';

import { GatewayWithPeers } from '../gateway.testing';
import { loadOipPackage } from './oip-grpc.proto';
import { OipGrpcServer } from './oip-grpc.server';

/** A stock @grpc/grpc-js client of the gateway's gRPC port, made from the .proto. */
export interface OipClient {
  /** One unary call: the response, or the ServiceError the server answered with. */
  call<T = Record<string, unknown>>(
    method: string,
    request: object,
    metadata?: Record<string, string>,
  ): Promise<T>;
  close(): void;
}

export function oipClient(address: string): OipClient {
  const pkg = loadPackageDefinition(loadOipPackage()) as unknown as {
    inference: { GRPCInferenceService: ServiceClientConstructor };
  };
  const client = new pkg.inference.GRPCInferenceService(
    address,
    credentials.createInsecure(),
    { 'grpc.max_receive_message_length': -1 },
  );
  return {
    call: <T>(
      method: string,
      request: object,
      headers: Record<string, string> = {},
    ) =>
      new Promise<T>((resolve, reject) => {
        const metadata = new Metadata();
        for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
        const unary = client[method] as (
          req: object,
          md: Metadata,
          cb: (e: ServiceError | null, res: T) => void,
        ) => void;
        unary.call(client, request, metadata, (e, res) =>
          e ? reject(e) : resolve(res),
        );
      }),
    close: () => client.close(),
  };
}

/** The gateway's gRPC server on a free port of 127.0.0.1, and a client of it. */
export async function grpcOf(g: GatewayWithPeers): Promise<OipClient> {
  const port = await g.app.get(OipGrpcServer).listen('127.0.0.1', 0);
  return oipClient(`127.0.0.1:${port}`);
}

/** The error a call failed with (the test fails if it succeeded). */
export async function failure(
  promise: Promise<unknown>,
): Promise<ServiceError> {
  try {
    await promise;
  } catch (e) {
    return e as ServiceError;
  }
  throw new Error('the call succeeded');
}
