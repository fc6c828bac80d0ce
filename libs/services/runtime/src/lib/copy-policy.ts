/**
 * When a busy model gets one more copy in this runtime, and when an extra copy goes.
 * Decided locally, every `intervalMs`, from what the worker pool saw: how long the
 * model's runs waited for a copy of it while a compute slot was free (one more copy
 * would have run them), and how busy its copies were.
 */
export interface CopyPolicyOptions {
  readonly intervalMs: number;
  /** Add a copy when runs waited for one at least this share of the interval. */
  readonly addWaitShare: number;
  /** An extra copy goes once the copies' average busy share stayed below this... */
  readonly dropBusyShare: number;
  /** ...for this long. */
  readonly coolDownMs: number;
}

export const DEFAULT_COPY_POLICY: CopyPolicyOptions = {
  intervalMs: 1000,
  // A fifth of the time with a run waiting is a queue that lasts, not one burst.
  addWaitShare: 0.2,
  // Below a third each, one copy fewer would still be at most two thirds busy.
  dropBusyShare: 0.33,
  coolDownMs: 30_000,
};

export interface CopyObservation {
  readonly copies: number;
  /** Most copies the model may have (the compute slots: more could never run at once). */
  readonly maxCopies: number;
  /** Over the last interval. */
  readonly busyMs: number;
  readonly copyWaitMs: number;
  readonly intervalMs: number;
}

export interface CopyDecision {
  readonly action: 'add' | 'drop' | null;
  /** Since when the model has been quiet enough to lose a copy (null: it is not). */
  readonly quietSince: number | null;
}

export function decideCopies(
  observed: CopyObservation,
  quietSince: number | null,
  nowMs: number,
  options: CopyPolicyOptions,
): CopyDecision {
  const { copies, intervalMs } = observed;
  if (
    observed.copyWaitMs >= options.addWaitShare * intervalMs &&
    copies < observed.maxCopies
  )
    return { action: 'add', quietSince: null };
  if (copies <= 1) return { action: null, quietSince: null };
  const busyShare = observed.busyMs / (intervalMs * copies);
  if (busyShare >= options.dropBusyShare || observed.copyWaitMs > 0)
    return { action: null, quietSince: null };
  const since = quietSince ?? nowMs;
  return nowMs - since >= options.coolDownMs
    ? { action: 'drop', quietSince: null }
    : { action: null, quietSince: since };
}
