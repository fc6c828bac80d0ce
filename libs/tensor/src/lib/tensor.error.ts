/**
 * The single error type of this library. Every rejection of client-supplied or
 * wire-supplied data is a TensorError with code INVALID_INPUT, so services can
 * map it to a 400-style response without inspecting messages. Messages are
 * written to be shown to API clients verbatim.
 */
export class TensorError extends Error {
  override readonly name = 'TensorError';
  readonly code = 'INVALID_INPUT' as const;
  /** The input (or frame tensor) the problem is about; null when not tied to one. */
  readonly input: string | null;
  /** Structured context for logs and error bodies; always JSON-serializable. */
  readonly details: Record<string, unknown>;

  constructor(
    message: string,
    input: string | null = null,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    this.input = input;
    this.details = details;
  }
}

/** An error about a named input; the message gets the `input "x": ` prefix clients see. */
export function inputError(
  input: string,
  message: string,
  details: Record<string, unknown> = {},
): TensorError {
  return new TensorError(`input ${JSON.stringify(input)}: ${message}`, input, {
    input,
    ...details,
  });
}

/** inputError when the tensor has a name, otherwise prefixed with `context` (e.g. `concatBatch: tensor 2`). */
export function tensorError(
  input: string | null,
  context: string,
  message: string,
  details: Record<string, unknown> = {},
): TensorError {
  return input === null
    ? new TensorError(`${context}: ${message}`, null, details)
    : inputError(input, message, details);
}
