/**
 * The name of the user metadata the cloud drivers record an object's sha256 under at
 * commit (`x-amz-meta-sha256` on S3, `metadata.sha256` on GCS and Azure).
 */
export const SHA256_METADATA = 'sha256';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `{ sha256 }` when the metadata holds a well-formed one, else nothing. */
export function recordedSha256(
  value: string | undefined,
): { sha256: string } | Record<string, never> {
  return value !== undefined && SHA256_HEX.test(value) ? { sha256: value } : {};
}
