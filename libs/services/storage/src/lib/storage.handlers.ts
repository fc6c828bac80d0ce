import {
  Inject,
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';

import {
  INGEST_ID_HEADER,
  INGEST_SEQ_HEADER,
  ingestChunkSubject,
  PortfolioError,
  Storage,
} from '@portfolio/contracts';
import { BusSubscription, encodeJson, Messaging } from '@portfolio/messaging';

import { ArtifactCollector } from './gc/artifact-collector';
import {
  INGEST_SETTINGS,
  IngestService,
  IngestSettings,
} from './ingest.service';

@Injectable()
export class StorageHandlers
  implements OnApplicationBootstrap, OnModuleDestroy
{
  private subscriptions: BusSubscription[] = [];
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly messaging: Messaging,
    private readonly ingest: IngestService,
    private readonly collector: ArtifactCollector,
    @Inject(INGEST_SETTINGS) private readonly settings: IngestSettings,
  ) {}

  onApplicationBootstrap(): void {
    const m = this.messaging;
    const instance = this.settings.instance;
    this.subscriptions = [
      m.serve(Storage.ingestBegin, (req) =>
        this.ingest.begin(
          req.model_id,
          req.format,
          req.expected_size_bytes,
          req.content_type,
        ),
      ),
      m.serveRaw(ingestChunkSubject(m.prefix, instance), async (msg) => {
        const id = msg.headers[INGEST_ID_HEADER];
        const seq = Number(msg.headers[INGEST_SEQ_HEADER]);
        if (!id || !Number.isInteger(seq) || seq < 0) {
          throw new PortfolioError(
            'INVALID_REQUEST',
            `a chunk needs the ${INGEST_ID_HEADER} and ${INGEST_SEQ_HEADER} headers`,
          );
        }
        return { data: encodeJson(await this.ingest.chunk(id, seq, msg.data)) };
      }),
      m.serve(
        Storage.ingestCommit,
        (req) => this.ingest.commit(req.ingest_id, req.chunks),
        { target: instance },
      ),
      m.serve(
        Storage.ingestAbort,
        async (req) => {
          await this.ingest.abort(req.ingest_id);
          return {};
        },
        { target: instance },
      ),
      m.serve(Storage.deleteArtifact, async (req) => ({
        deleted: await this.ingest.deleteArtifact(req.artifact_uri),
      })),
      m.serve(Storage.importUri, (req) =>
        this.ingest.importUri(req.model_id, req.format, req.uri, req.sha256),
      ),
      m.serve(Storage.collectGarbage, (req) =>
        this.collector.collect({
          dryRun: req.dry_run,
          ...(req.min_age_ms !== undefined ? { minAgeMs: req.min_age_ms } : {}),
        }),
      ),
      m.serve(Storage.ping, () => ({
        service: 'storage',
        instance,
        started_at: this.startedAt,
      })),
    ];
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.subscriptions = [];
  }
}
