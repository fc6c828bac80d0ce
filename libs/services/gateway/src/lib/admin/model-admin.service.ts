import { Injectable } from '@nestjs/common';

import {
  assertSupportedFormat,
  CreateModelRequest,
  CreateModelResponse,
  CreateVersionResponse,
  ModelFormat,
  PortfolioError,
  Registry,
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
