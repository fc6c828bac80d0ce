/**
 * A nested JSON array of numbers, already measured and flattened (row-major): what a
 * large request body becomes when it is parsed off the event loop (the gateway's JSON
 * offload), so that the main thread gets one Float64Array instead of millions of
 * array elements. Only ever made from a rectangular array whose leaves are all numbers
 * and whose rank is within MAX_RANK: every other value stays as JSON.parse made it, and
 * the conversion (tensorFromJson) checks both forms alike.
 */
export class PackedNumbers {
  constructor(
    readonly shape: readonly number[],
    readonly data: Float64Array,
  ) {}
}
