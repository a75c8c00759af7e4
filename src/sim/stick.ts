import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The virtual jig's USB port. Inserting copies a folder (the stick's contents, holding pijig/)
 * next to the mount directory and renames it in, so it appears at once as a real mount does;
 * pulling renames it away first, so it vanishes at once, even in the middle of a read.
 */
export async function insertStick(mountDir: string, name: string, contentsDir: string): Promise<string> {
  checkName(name);
  await mkdir(mountDir, { recursive: true });
  const root = join(mountDir, name);
  const incoming = beside(mountDir, name, 'inserting');
  await rm(incoming, { recursive: true, force: true });
  await cp(contentsDir, incoming, { recursive: true, verbatimSymlinks: true });
  await rename(incoming, root);
  return root;
}

/** Pull the stick: its folder vanishes. Returns silently when no such stick is in. */
export async function pullStick(mountDir: string, name: string): Promise<void> {
  checkName(name);
  const gone = beside(mountDir, name, 'pulled');
  try {
    await rename(join(mountDir, name), gone);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rm(gone, { recursive: true, force: true });
}

/** Pull the stick but keep what was written to it, as taking it to a PC does; returns where it is kept. */
export async function ejectStick(mountDir: string, name: string, keepAt: string): Promise<string> {
  checkName(name);
  await rename(join(mountDir, name), keepAt);
  return keepAt;
}

/** A folder next to the mount directory (same filesystem, so rename is atomic; outside it, so the watcher never sees it half-copied). */
function beside(mountDir: string, name: string, what: string): string {
  return join(dirname(mountDir), `.${basename(mountDir)}-${name}.${what}`);
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new RangeError(`stick name "${name}" must be a plain folder name`);
}
