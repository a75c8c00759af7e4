import { link, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PijigError } from '../core/errors.js';
import { OWN_START_TIME, processAlive } from '../util/proc.js';

export const LOCK_FILE = 'pijig.lock';

export class DataDirLockError extends PijigError<'LOCK_HELD' | 'DATA_DIR_NOT_WRITABLE'> {}

/** Who holds a data directory. */
export interface LockHolder {
  pid: number;
  /** The process's start time in clock ticks after boot (/proc/<pid>/stat field 22): with the pid, one process for good. */
  startTime: string | undefined;
  startedAt: string;
  command: string;
}

/**
 * One pijig process per data directory. `<data dir>/pijig.lock` is created with O_EXCL and holds
 * the owner's pid and process start time. A lock whose process is gone (SIGKILL, power cut) or
 * whose pid now names another process (start time differs) is stale and taken over - by rename,
 * so that of two processes starting at once only one can take it. A second process exits at
 * once naming the holder.
 */
export class DataDirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly path: string,
    readonly holder: LockHolder,
  ) {}

  /**
   * Take the lock, or refuse at once (LOCK_HELD) - or, with `waitMs`, wait up to that long for the
   * holder to end (a scripted run queued behind another).
   */
  static async acquire(dir: string, command: string, opts: { waitMs?: number } = {}): Promise<DataDirLock> {
    const until = Date.now() + (opts.waitMs ?? 0);
    for (;;) {
      try {
        return await DataDirLock.tryAcquire(dir, command);
      } catch (err) {
        if (!(err instanceof DataDirLockError) || err.code !== 'LOCK_HELD' || Date.now() >= until) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  private static async tryAcquire(dir: string, command: string): Promise<DataDirLock> {
    const path = join(dir, LOCK_FILE);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw notWritable(dir, err);
    }
    const me: LockHolder = { pid: process.pid, startTime: OWN_START_TIME, startedAt: new Date().toISOString(), command };
    const text = `${JSON.stringify(me)}\n`;
    await removeStaleTemps(dir);
    // The lock appears whole or not at all: written and fsync'd under a name of our own, then
    // linked into place (link fails if the lock exists, as O_EXCL does).
    const temp = join(dir, `${TEMP_PREFIX}${process.pid}.${OWN_START_TIME ?? '0'}`);
    try {
      const fh = await open(temp, 'w', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw notWritable(dir, err);
    }
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(temp, path);
          return new DataDirLock(dir, path, me);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(dir, err);
        }
        const found = await readHolder(path);
        if (found === 'gone') continue;
        if (processAlive(found.holder.pid, found.holder.startTime)) {
          throw new DataDirLockError('LOCK_HELD', `data directory ${dir} is in use by ${describe(found.holder)}; one pijig process per data directory`, {
            details: { file: path, pid: found.holder.pid },
          });
        }
        await takeOver(path, found.text);
      }
    } finally {
      await unlink(temp).catch(() => {});
    }
    throw new DataDirLockError('LOCK_HELD', `data directory ${dir}: cannot take ${path} (it keeps changing)`, { details: { file: path } });
  }

  /** Remove the lock, if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const found = await readHolder(this.path);
    if (found === 'gone') return;
    if (found.holder.pid === this.holder.pid && found.holder.startTime === this.holder.startTime) await unlink(this.path).catch(() => {});
  }
}

/** Who holds the data directory now, if anyone (for messages). */
export async function lockHolder(dir: string): Promise<LockHolder | undefined> {
  const found = await readHolder(join(dir, LOCK_FILE));
  if (found === 'gone') return undefined;
  return processAlive(found.holder.pid, found.holder.startTime) ? found.holder : undefined;
}

function describe(h: LockHolder): string {
  return `pijig pid ${h.pid} (${h.command}, since ${h.startedAt})`;
}

async function readHolder(path: string): Promise<{ holder: LockHolder; text: string } | 'gone'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (Number.isSafeInteger(h.pid) && h.pid > 0) return { holder: h, text };
  } catch {
    // not ours (hand-made, damaged): stale
  }
  return { holder: { pid: 0, startTime: undefined, startedAt: '?', command: '?' }, text };
}

const TEMP_PREFIX = '.pijig.lock.';

/** Lock files being written by processes that died before linking them. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^\.pijig\.lock\.(\d+)\.(\d+)$/.exec(name);
    if (m && !processAlive(Number(m[1]), m[2])) await unlink(join(dir, name)).catch(() => {});
  }
}

/**
 * Take a stale lock away: rename it aside, and check that what was renamed is the stale lock
 * judged (not a live one another process made meanwhile); if it was live, put it back.
 */
async function takeOver(path: string, staleText: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== staleText) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}

function notWritable(dir: string, err: unknown): DataDirLockError {
  const errno = (err as NodeJS.ErrnoException).code;
  const code = errno === 'EEXIST' ? 'EEXIST: a file, not a folder' : (errno ?? (err as Error).message);
  return new DataDirLockError('DATA_DIR_NOT_WRITABLE', `data directory ${dir} is not writable (${code})`, { cause: err, details: { file: dir } });
}
