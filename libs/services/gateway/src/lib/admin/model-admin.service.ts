import { Injectable } from '@nestjs/common';

import {
  assertSupportedFormat,
  CreateModelRequest,
  CreateModelResponse,
  CreateVersionResponse,
  IngestCommitResponse,
  ModelFormat,
  PortfolioError,
  Registry,
  Storage,
} from '@portfolio/contracts';
import { Messaging } from '@portfolio/messaging';

import { assertModelId } from '../catalog/model-catalog.service';
import { ArtifactUploader } from './artifact-uploader';

/**
 * Registration use cases. A version exists only once its artifact is stored and
 * valid; if the registry refuses it afterwards, the artifact just stored is removed
 * again (when no other version uses the same bytes), so nothing is left half-registered.
 */
@Injectable()
export class ModelAdminService {
  constructor(
    private readonly messaging: Messaging,
    private readonly uploader: ArtifactUploader,
  ) {}

  createModel(req: CreateModelRequest): Promise<CreateModelResponse> {
    assertModelId(req.id);
    assertSupportedFormat(req.format);
    return this.messaging.call(Registry.createModel, req);
  }

  async uploadVersion(
    modelId: string,
    source: AsyncIterable<Uint8Array>,
    options: {
      expectedSizeBytes?: number;
      maxBytes?: number;
      reuseIfSameSha256?: boolean;
      /** A form's `multipart/form-data; boundary=...`; absent: the body is a file or an archive. */
      contentType?: string;
      /** Who uploads it, for the audit log. */
      actor?: string;
    } = {},
  ): Promise<CreateVersionResponse> {
    assertModelId(modelId);
    // Fail fast (and read nothing) when the model does not exist.
    const { model } = await this.messaging.call(Registry.getModel, {
      id: modelId,
    });
    const format: ModelFormat = model.format;
    const stored = await this.uploader.upload(modelId, format, source, options);
    return this.register(modelId, stored, options);
  }

  /**
   * A version from where its artifact already is (`file://`, `s3://`, `gs://`, `az://`
   * under the storage service's import sources), checked against `sha256` when given.
   */
  async importVersion(
    modelId: string,
    uri: string,
    options: { sha256?: string; actor?: string; timeoutMs: number },
  ): Promise<CreateVersionResponse> {
    assertModelId(modelId);
    const { model } = await this.messaging.call(Registry.getModel, {
      id: modelId,
    });
    const stored = await this.messaging.call(
      Storage.importUri,
      {
        model_id: modelId,
        format: model.format,
        uri,
        ...(options.sha256 !== undefined ? { sha256: options.sha256 } : {}),
      },
      { timeoutMs: options.timeoutMs },
    );
    return this.register(modelId, stored, options);
  }

  private async register(
    modelId: string,
    stored: IngestCommitResponse,
    options: { reuseIfSameSha256?: boolean; actor?: string },
  ): Promise<CreateVersionResponse> {
    try {
      return await this.messaging.call(Registry.createVersion, {
        model_id: modelId,
        artifact_uri: stored.artifact_uri,
        sha256: stored.sha256,
        size_bytes: stored.size_bytes,
        format: stored.format,
        signature: stored.signature,
        reuse_if_same_sha256: options.reuseIfSameSha256,
        ...(options.actor !== undefined ? { actor: options.actor } : {}),
      });
    } catch (e) {
      // Only when the registry said no: after a timeout the version may exist, and an
      // orphaned artifact (collected later) is better than a version without one.
      const refused =
        e instanceof PortfolioError &&
        e.code !== 'TIMEOUT' &&
        e.code !== 'SERVICE_UNAVAILABLE';
      if (refused && stored.created)
        await this.uploader.discard(stored.artifact_uri);
      throw e;
    }
  }
}
