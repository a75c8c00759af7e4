/**
 * The one error shape of pijig. Every subsystem has its own class (StepError, ProbeError,
 * MediaError, ...) that extends this one with its own codes, so a caller can always read a
 * machine-readable `code`, the original failure as `cause`, and optional structured `details`
 * (addresses, file names, fields) without knowing which subsystem threw.
 */
export class PijigError<Code extends string = string> extends Error {
  readonly details: Record<string, unknown> | undefined;
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

/** The code of any error that carries one (a PijigError, or a Node errno error), else undefined. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
