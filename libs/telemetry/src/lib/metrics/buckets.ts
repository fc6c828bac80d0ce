/**
 * Histogram buckets (upper bounds, in the metric's unit), shared so that one kind of
 * measurement is bucketed alike wherever it is taken.
 */

/** Requests answered to clients (HTTP, gRPC): 5 ms to 30 s. */
export const REQUEST_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Inference queue and compute time: 0.1 ms to 10 s (tiny models run in microseconds). */
export const INFERENCE_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];

/** Rows or requests in one engine run: powers of two up to 1024. */
export const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Model loads: 50 ms to 5 minutes. */
export const LOAD_SECONDS = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/** A placement decision (in memory, no I/O): 10 µs to 100 ms. */
export const DECISION_SECONDS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
  0.01, 0.025, 0.05, 0.1,
];

/** Database operations and bus handlers: 0.5 ms to 2 minutes (a handler may run a load). */
export const OPERATION_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10, 30, 60, 120,
];

/** Artifact transfers and trial loads: 10 ms to 10 minutes. */
export const TRANSFER_SECONDS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];
