import {
  Controller,
  Inject,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { Payload } from '@nestjs/microservices';

import {
  INGEST_ID_HEADER,
  INGEST_SEQ_HEADER,
  ingestChunkSubject,
  PortfolioError,
  RpcRequest,
  RpcResponse,
  Storage,
} from '@portfolio/contracts';
import {
  BusRpc,
  BusSubscription,
  encodeJson,
  Messaging,
} from '@portfolio/messaging';

import { ArtifactCollector } from './gc/artifact-collector';
import {
  INGEST_SETTINGS,
  IngestService,
  IngestSettings,
} from './ingest.service';

/** The token whose value is this storage instance's id: ingest sessions live on one instance. */
export const STORAGE_INSTANCE = Symbol('storage instance id');

type Req<K extends keyof typeof Storage> = RpcRequest<(typeof Storage)[K]>;
type Res<K extends keyof typeof Storage> = Promise<
  RpcResponse<(typeof Storage)[K]>
>;

/**
 * The storage service's bus surface. An upload is a session on one instance: `begin`
 * (any instance) answers with its instance id, and the chunks, `commit` and `abort`
 * are addressed to that instance. The chunks are raw bytes, subscribed directly on the
 * bus (a data path, like inference); everything else is a contract handler.
 */
@Controller()
export class StorageController
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private chunks: BusSubscription | null = null;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly messaging: Messaging,
    private readonly ingest: IngestService,
    private readonly collector: ArtifactCollector,
    @Inject(INGEST_SETTINGS) private readonly settings: IngestSettings,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.messaging;
    this.chunks = m.serveRaw(
      ingestChunkSubject(m.prefix, this.settings.instance),
      async (msg) => {
        const id = msg.headers[INGEST_ID_HEADER];
        const seq = Number(msg.headers[INGEST_SEQ_HEADER]);
        if (!id || !Number.isInteger(seq) || seq < 0) {
          throw new PortfolioError(
            'INVALID_REQUEST',
            `a chunk needs the ${INGEST_ID_HEADER} and ${INGEST_SEQ_HEADER} headers`,
          );
        }
        return { data: encodeJson(await this.ingest.chunk(id, seq, msg.data)) };
      },
    );
  }

  onModuleDestroy(): void {
    this.chunks?.unsubscribe();
    this.chunks = null;
  }

  @BusRpc(Storage.ingestBegin)
  ingestBegin(@Payload() req: Req<'ingestBegin'>): Res<'ingestBegin'> {
    return this.ingest.begin(
      req.model_id,
      req.format,
      req.expected_size_bytes,
      req.content_type,
    );
  }

  @BusRpc(Storage.ingestCommit, { target: STORAGE_INSTANCE })
  ingestCommit(@Payload() req: Req<'ingestCommit'>): Res<'ingestCommit'> {
    return this.ingest.commit(req.ingest_id, req.chunks);
  }

  @BusRpc(Storage.ingestAbort, { target: STORAGE_INSTANCE })
  async ingestAbort(@Payload() req: Req<'ingestAbort'>): Res<'ingestAbort'> {
    await this.ingest.abort(req.ingest_id);
    return {};
  }

  @BusRpc(Storage.deleteArtifact)
  async deleteArtifact(
    @Payload() req: Req<'deleteArtifact'>,
  ): Res<'deleteArtifact'> {
    return { deleted: await this.ingest.deleteArtifact(req.artifact_uri) };
  }

  @BusRpc(Storage.importUri)
  importUri(@Payload() req: Req<'importUri'>): Res<'importUri'> {
    return this.ingest.importUri(req.model_id, req.format, req.uri, req.sha256);
  }

  @BusRpc(Storage.collectGarbage)
  collectGarbage(@Payload() req: Req<'collectGarbage'>): Res<'collectGarbage'> {
    return this.collector.collect({
      dryRun: req.dry_run,
      ...(req.min_age_ms !== undefined ? { minAgeMs: req.min_age_ms } : {}),
    });
  }

  @BusRpc(Storage.ping)
  async ping(): Res<'ping'> {
    return {
      service: 'storage',
      instance: this.settings.instance,
      started_at: this.startedAt,
    };
  }
}
