import type { ModelFormat, Signature } from '@portfolio/contracts';

import type { ModelBackend } from './model-backend';

/** What ingest learns about an artifact, by its content, before anything is registered. */
export interface ArtifactInspection {
  readonly format: ModelFormat;
  /**
   * As far as the files tell it. Formats whose files do not declare it (a TorchScript
   * module, a pickled estimator) give empty lists: the runtime's load tells the rest.
   */
  readonly signature: Signature;
  readonly metadata: Record<string, string>;
}

/**
 * Everything the product knows about one model format: which of an upload's files is
 * the one a runtime loads, how to validate an artifact by its content at ingest, and
 * the backend that loads it. One module per format (see formats.ts); services never
 * switch on formats themselves.
 */
export interface FormatModule {
  readonly format: ModelFormat;
  /**
   * The file a runtime loads, of an artifact uploaded as several files (`paths`:
   * relative, `/`-separated); the others are what it reads beside it (external data,
   * weight shards, a tokenizer). Throws INVALID_ARTIFACT naming what is missing or
   * ambiguous.
   */
  entryPoint(paths: readonly string[]): string;
  /**
   * Validates the artifact whose entry point is `path` by its content (never by its
   * name alone) and extracts its signature. `beside`: the files uploaded with it
   * (paths relative to the entry point's directory, and sizes); absent for a single
   * file. Throws INVALID_ARTIFACT with a sentence saying what is wrong, or
   * FORMAT_UNAVAILABLE when this machine lacks what the format needs.
   */
  inspect(
    path: string,
    beside?: ReadonlyMap<string, number>,
  ): Promise<ArtifactInspection>;
  createBackend(): ModelBackend;
  /**
   * Whether the file at `path`, an archive by its first bytes (a zip), is nonetheless one
   * artifact of this format (a TorchScript archive is a zip): ingest then stores it as
   * it is instead of unpacking it. Absent: archives are always unpacked.
   */
  isWholeArtifact?(path: string): boolean;
}
