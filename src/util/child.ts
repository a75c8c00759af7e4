import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * Children that die with pijig. Each external process (openocd, socat, a plan's command) is
 * started through util-linux's `setpriv --pdeathsig KILL`, which asks the kernel to SIGKILL it
 * when pijig ends - even by SIGKILL, when no handler of ours runs. (PR_SET_PDEATHSIG survives the
 * exec into the real program; it fires when the thread that forked exits, and libuv forks from
 * the main thread, which lives as long as the process.)
 *
 * Between the fork and setpriv's prctl() pijig might already be gone; the tiny `sh` step after it
 * closes that window: it checks that its parent is still this process before it execs the
 * program, and exits otherwise. setpriv is in util-linux (Debian bookworm and trixie: the
 * essential package util-linux). Without it, children are started plainly.
 */
export interface BoundCommand {
  file: string;
  args: string[];
  /** True when the command is bound to this process's life. */
  bound: boolean;
}

let setprivPath: string | null | undefined;
let shPath: string | null | undefined;

export function boundToThisProcess(file: string, args: readonly string[], cwd?: string): BoundCommand {
  setprivPath ??= which('setpriv') ?? null;
  shPath ??= which('sh') ?? null;
  // A program that is not there is started plainly, so the caller sees ENOENT for it (SOCAT_MISSING, PROBE_NOT_FOUND).
  if (!setprivPath || !shPath || which(file, cwd) === undefined) return { file, args: [...args], bound: false };
  const guard = `[ "$PPID" = "${process.pid}" ] || exit 125; exec "$0" "$@"`;
  return { file: setprivPath, args: ['--pdeathsig', 'KILL', '--', shPath, '-c', guard, file, ...args], bound: true };
}

/** The executable `file` resolves to on PATH (or itself, when it has a slash), if it exists. */
export function which(file: string, cwd: string = process.cwd()): string | undefined {
  const candidates = file.includes('/') ? [isAbsolute(file) ? file : join(cwd, file)] : (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter).filter(Boolean).map((d) => join(d, file));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}
