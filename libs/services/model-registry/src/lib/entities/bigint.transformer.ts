import { ValueTransformer } from 'typeorm';

/** pg returns BIGINT as a string; sizes and durations fit a JS number (< 2^53). */
export const bigintTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};
