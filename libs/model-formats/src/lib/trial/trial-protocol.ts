import type { ModelFormat, Signature } from '@portfolio/contracts';

/** What the trial script is asked (its one argument, as JSON). */
export interface TrialRequest {
  readonly format: ModelFormat;
  readonly path: string;
}

/** What it prints, as the last line of its stdout. */
export type TrialReply =
  | { readonly ok: true; readonly signature: Signature; readonly ran: boolean }
  | { readonly ok: false; readonly code: string; readonly message: string };
