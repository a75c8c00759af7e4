import { PijigError } from '../core/errors.js';

export interface ConfigIssue {
  file: string;
  /** 1-based line of the offending node, when known. */
  line?: number;
  column?: number;
  /** Dotted path of the field, e.g. "gpio.inputs.start.line". */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line ? `${issue.file}:${issue.line}${issue.column ? `:${issue.column}` : ''}` : issue.file;
  return `${where}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** Every problem of a configuration file, reported at once. */
export class ConfigError extends PijigError<'CONFIG_INVALID'> {
  constructor(
    readonly issues: ConfigIssue[],
    options?: { cause?: unknown },
  ) {
    super('CONFIG_INVALID', `${issues.length} configuration error${issues.length === 1 ? '' : 's'}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`, options);
  }
}
