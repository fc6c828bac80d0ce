import {
  ArtifactDigest,
  PutOptions,
  PutResult,
  StorageDriver,
  StorageError,
} from './storage-driver';

/**
 * StorageDriver.put for every driver: the source goes through the driver's own writer,
 * so it is hashed while written and becomes visible only at commit; any failure
 * (the source's, a digest mismatch, the commit's) aborts the writer before rejecting.
 */
export async function putThroughWriter(
  driver: StorageDriver,
  source: AsyncIterable<Uint8Array>,
  key: string | ((digest: ArtifactDigest) => string),
  options: PutOptions = {},
): Promise<PutResult> {
  const writer = await driver.createWriter();
  try {
    for await (const chunk of source) await writer.write(chunk);
    const { sha256, sizeBytes } = await writer.finish();
    const expected = options.expectedSha256?.toLowerCase();
    if (expected !== undefined && expected !== sha256)
      throw new StorageError(
        'DIGEST_MISMATCH',
        `the artifact's sha256 is ${sha256}, not the expected ${expected}`,
      );
    const { uri, created } = await writer.commit(
      typeof key === 'function' ? key({ sha256, sizeBytes }) : key,
    );
    return { uri, created, sha256, sizeBytes };
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
