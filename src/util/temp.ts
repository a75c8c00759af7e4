import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OWN_START_TIME, processAlive } from './proc.js';

/**
 * Temp folders named after the process that made them ("pijig-<pid>.<start time>-<kind>-XXXXXX"),
 * so that the next start removes those a killed process left behind - and only those.
 */
const OWNED = /^pijig-(\d+)\.(\d+)-/;

export function makeTempDir(kind: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pijig-${process.pid}.${OWN_START_TIME ?? '0'}-${kind}-`));
}

/** Remove the temp folders of pijig processes that no longer run; returns their paths. */
export async function removeStaleTempDirs(dir: string = tmpdir()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m || processAlive(Number(m[1]), m[2])) continue;
    await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
    removed.push(join(dir, name));
  }
  return removed;
}
