/**
 * Frames carry numeric data little-endian and are decoded into typed-array
 * views, which use the platform's byte order; on a big-endian machine every
 * value would silently be wrong, so refuse to run there at all.
 */
export function assertLittleEndian(
  littleEndian: boolean = isLittleEndianPlatform(),
): void {
  if (!littleEndian) {
    throw new Error(
      '@portfolio/tensor requires a little-endian platform: binary frames hold little-endian data ' +
        'that is read through typed-array views in native byte order',
    );
  }
}

function isLittleEndianPlatform(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
