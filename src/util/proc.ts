import { readFileSync } from 'node:fs';

/**
 * A process's start time, in clock ticks after boot (field 22 of /proc/<pid>/stat): with the
 * pid, it names one process for good (a pid alone can be reused). Undefined when there is no
 * such process (or no /proc).
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** The process `pid` that started at `startTime` is still running (a zombie counts as gone). */
export function processAlive(pid: number, startTime: string | undefined): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return startTime === undefined || fields[19] === startTime;
}

/** This process's start time (see processStartTime). */
export const OWN_START_TIME = processStartTime(process.pid);
