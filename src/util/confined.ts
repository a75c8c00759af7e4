import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';

/*
 * File access under a folder whose content is hostile (a USB stick): nothing under the root is
 * followed if it is a symbolic link, only regular files and folders are opened, never blocking
 * (a FIFO does not hang the reader), sizes are checked on the open file before a byte is read,
 * and a file is truncated only after it is known to be the file meant. Node has no openat(), so
 * every component is lstat'ed on the way down, the last is opened with O_NOFOLLOW, and the opened
 * descriptor's real path (/proc/self/fd) must be exactly root + path: a folder swapped for a link
 * between the checks and the open is caught before anything is read or written. (The residue of
 * that race: an empty file or folder created through the link, never data written through it.)
 */

export type ConfinedCode =
  /** a symbolic link (or a path that resolves elsewhere) under the root */
  | 'SYMLINK'
  /** a FIFO, device, socket - or a folder where a file was meant, or the reverse */
  | 'NOT_A_FILE'
  | 'TOO_LARGE'
  /** the path leaves the root ("..", absolute) or lands in a protected folder */
  | 'ESCAPE'
  /** the filesystem is mounted read-only (EROFS) */
  | 'READ_ONLY';

/** A refusal of ConfinedDir; filesystem errors (ENOENT, EIO, ...) pass through as they are. */
export class ConfinedError extends Error {
  constructor(
    readonly code: ConfinedCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConfinedError';
  }
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

export interface ConfinedOptions {
  /** Folders nothing may be opened in, whatever the stick holds (the jig's data directory). */
  protect?: readonly string[];
}

export class ConfinedDir {
  private constructor(
    /** The root as given (for messages). */
    readonly root: string,
    /** Its real path: every opened path must resolve to exactly this + the relative path. */
    readonly real: string,
    private readonly protect: readonly string[],
  ) {}

  /** The root must be a folder (it is the jig's own mount point: links above it are the jig's business). */
  static async open(root: string, options: ConfinedOptions = {}): Promise<ConfinedDir> {
    const real = await realpath(root);
    const protect = await Promise.all((options.protect ?? []).map(async (p) => realpath(p).catch(() => resolve(p))));
    const dir = new ConfinedDir(root, real, protect);
    const st = await lstat(real);
    if (!st.isDirectory()) throw new ConfinedError('NOT_A_FILE', root, `${root}: not a folder`);
    dir.checkProtected(real, root);
    return dir;
  }

  /** The absolute path of `rel` ("a/b/c", no "..", ".", empty or absolute part). */
  path(rel: string): string {
    return rel === '' ? this.root : join(this.root, ...segments(rel, this.root));
  }

  /** lstat of `rel` with no link on the way (undefined when it does not exist). A link is returned as one, not followed. */
  async lstat(rel: string): Promise<Stats | undefined> {
    const segs = segments(rel, this.root);
    let at = this.real;
    for (let i = 0; i < segs.length; i++) {
      at = join(at, segs[i]!);
      let st: Stats;
      try {
        st = await lstat(at);
      } catch (err) {
        if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return undefined;
        throw err;
      }
      if (i === segs.length - 1) return st;
      if (st.isSymbolicLink()) throw new ConfinedError('SYMLINK', this.shown(segs, i), `${this.shown(segs, i)}: is a symbolic link`);
      if (!st.isDirectory()) return undefined;
    }
    return lstat(this.real);
  }

  /** Names in the folder `rel` (itself and every folder above it a real folder). */
  async readdir(rel: string): Promise<string[]> {
    const fh = await this.openDir(rel);
    await fh.close();
    return readdir(join(this.real, ...segments(rel, this.root)));
  }

  /** Open a regular file for reading, non-blocking, no larger than `maxBytes`. */
  async openRead(rel: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<{ fh: FileHandle; size: number }> {
    const fh = await this.openChecked(rel, O_RDONLY | O_NONBLOCK, 'file');
    const { size } = await fh.stat();
    if (size > maxBytes) {
      await fh.close();
      throw new ConfinedError('TOO_LARGE', this.path(rel), `${this.path(rel)}: ${size} bytes exceeds ${maxBytes}`);
    }
    return { fh, size };
  }

  /** The file's bytes in chunks; stops with TOO_LARGE if it grows past `maxBytes` while read. */
  async *read(rel: string, maxBytes = Number.MAX_SAFE_INTEGER, chunkBytes = 256 * 1024): AsyncGenerator<Uint8Array> {
    const { fh } = await this.openRead(rel, maxBytes);
    try {
      let total = 0;
      for (;;) {
        const buf = Buffer.allocUnsafe(chunkBytes);
        const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
        if (bytesRead === 0) return;
        total += bytesRead;
        if (total > maxBytes) throw new ConfinedError('TOO_LARGE', this.path(rel), `${this.path(rel)}: grew past ${maxBytes} bytes while being read`);
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }

  async readFile(rel: string, maxBytes: number): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of this.read(rel, maxBytes)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /**
   * Open a regular file for writing: created when missing (`create`), appended to (`append`).
   * Never truncated on open (a link swapped in would be truncated before it is seen): truncate
   * the returned handle.
   */
  async openWrite(rel: string, options: { create?: boolean; exclusive?: boolean; append?: boolean; mode?: number } = {}): Promise<FileHandle> {
    let flags = O_WRONLY | O_NONBLOCK;
    if (options.create) flags |= O_CREAT;
    if (options.exclusive) flags |= O_EXCL;
    if (options.append) flags |= O_APPEND;
    return this.openChecked(rel, flags, 'file', options.mode ?? 0o644);
  }

  /** Create `rel` and the folders above it, one at a time; each one that exists must be a real folder. */
  async mkdir(rel: string): Promise<string[]> {
    const segs = segments(rel, this.root);
    const stats = await this.lstatAll(segs, segs.length);
    const created: string[] = [];
    for (let i = 0; i < segs.length; i++) {
      const part = segs.slice(0, i + 1).join('/');
      const st = stats[i];
      if (st) {
        if (st.isSymbolicLink()) throw new ConfinedError('SYMLINK', this.shown(segs, i), `${this.shown(segs, i)}: is a symbolic link`);
        if (!st.isDirectory()) throw new ConfinedError('NOT_A_FILE', this.shown(segs, i), `${this.shown(segs, i)}: not a folder`);
        continue;
      }
      try {
        await mkdir(join(this.real, ...segs.slice(0, i + 1)));
        created.push(part);
      } catch (err) {
        if (code(err) !== 'EEXIST') throw this.mapped(err, part);
      }
    }
    // The descriptor check covers every folder on the way at once (a link swapped in meanwhile included).
    const fh = await this.openDir(rel);
    await fh.close();
    return created;
  }

  async rename(fromRel: string, toRel: string): Promise<void> {
    await this.checkParent(fromRel);
    await this.checkParent(toRel);
    try {
      await rename(join(this.real, ...segments(fromRel, this.root)), join(this.real, ...segments(toRel, this.root)));
    } catch (err) {
      throw this.mapped(err, toRel);
    }
  }

  async unlink(rel: string): Promise<void> {
    await this.checkParent(rel);
    try {
      await unlink(join(this.real, ...segments(rel, this.root)));
    } catch (err) {
      throw this.mapped(err, rel);
    }
  }

  async fsyncDir(rel: string): Promise<void> {
    const fh = await this.openDir(rel);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Temp file, fsync, rename over `rel`, fsync the folder: a power cut leaves the old or the new content. */
  async writeFileAtomic(rel: string, data: string | Uint8Array): Promise<void> {
    const segs = segments(rel, this.root);
    const parent = segs.slice(0, -1).join('/');
    const tmp = [...segs.slice(0, -1), `.${segs.at(-1)}.${process.pid}.${Date.now()}.tmp`].join('/');
    const fh = await this.openWrite(tmp, { create: true, exclusive: true });
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.rename(tmp, rel);
    await this.fsyncDir(parent);
  }

  private async openDir(rel: string): Promise<FileHandle> {
    return this.openChecked(rel, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 'dir');
  }

  /** Every folder above `rel` is a real folder. */
  private async checkParent(rel: string): Promise<void> {
    const segs = segments(rel, this.root);
    const fh = await this.openDir(segs.slice(0, -1).join('/'));
    await fh.close();
  }

  private async openChecked(rel: string, flags: number, want: 'file' | 'dir', mode?: number): Promise<FileHandle> {
    const segs = segments(rel, this.root);
    const shown = this.path(rel);
    // Folders on the way, and the file itself: lstat'ed (all at once), a link refused, not followed.
    const stats = await this.lstatAll(segs, segs.length);
    for (let i = 0; i < segs.length - 1; i++) {
      const st = stats[i];
      if (!st) throw this.mapped(Object.assign(new Error(`ENOENT: no such file or directory, '${this.shown(segs, i)}'`), { code: 'ENOENT' }), segs.slice(0, i + 1).join('/'));
      if (st.isSymbolicLink()) throw new ConfinedError('SYMLINK', this.shown(segs, i), `${this.shown(segs, i)}: is a symbolic link`);
      if (!st.isDirectory()) throw new ConfinedError('NOT_A_FILE', this.shown(segs, i), `${this.shown(segs, i)}: not a folder`);
    }
    const full = join(this.real, ...segs);
    // A special file is refused before it is opened (opening a device can do things).
    const before = segs.length ? stats[segs.length - 1] : await lstat(full).catch(() => undefined);
    if (before?.isSymbolicLink()) throw new ConfinedError('SYMLINK', shown, `${shown}: is a symbolic link`);
    if (before && !(want === 'file' ? before.isFile() : before.isDirectory())) {
      throw new ConfinedError('NOT_A_FILE', shown, `${shown}: ${want === 'file' ? 'not a regular file' : 'not a folder'}`);
    }
    let fh: FileHandle;
    try {
      fh = await open(full, flags | O_NOFOLLOW, mode);
    } catch (err) {
      // O_NOFOLLOW on a link: ELOOP; O_DIRECTORY on a link: ENOTDIR (lstat tells which).
      if (code(err) === 'ELOOP' || ((code(err) === 'ENOTDIR' || code(err) === 'ENXIO') && (await lstat(full).then((s) => s.isSymbolicLink(), () => false)))) {
        throw new ConfinedError('SYMLINK', shown, `${shown}: is a symbolic link`, { cause: err });
      }
      // O_WRONLY|O_NONBLOCK on a FIFO with no reader: ENXIO.
      if (code(err) === 'ENXIO') throw new ConfinedError('NOT_A_FILE', shown, `${shown}: not a regular file`, { cause: err });
      throw this.mapped(err, rel);
    }
    try {
      const st = await fh.stat();
      if (want === 'file' ? !st.isFile() : !st.isDirectory()) {
        throw new ConfinedError('NOT_A_FILE', shown, `${shown}: ${want === 'file' ? 'not a regular file' : 'not a folder'}`);
      }
      const real = await fdPath(fh, full);
      if (real !== full) throw new ConfinedError('SYMLINK', shown, `${shown}: resolves to ${real} through a symbolic link`);
      this.checkProtected(real, shown);
      return fh;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  private checkProtected(real: string, shown: string): void {
    for (const p of this.protect) {
      if (real === p || real.startsWith(p + sep) || p.startsWith(real + sep)) {
        throw new ConfinedError('ESCAPE', shown, `${shown}: resolves to ${real}, at the jig's own ${p}`);
      }
    }
  }

  /** lstat of the first `n` prefixes of `segs`, concurrently (undefined: missing); other errors are thrown. */
  private async lstatAll(segs: readonly string[], n: number): Promise<(Stats | undefined)[]> {
    return Promise.all(
      segs.slice(0, n).map((_, i) =>
        lstat(join(this.real, ...segs.slice(0, i + 1))).catch((err: unknown) => {
          if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return undefined;
          throw err;
        }),
      ),
    );
  }

  private shown(segs: readonly string[], i: number): string {
    return join(this.root, ...segs.slice(0, i + 1));
  }

  private mapped(err: unknown, rel: string): unknown {
    if (code(err) === 'EROFS') return new ConfinedError('READ_ONLY', this.path(rel), `${this.path(rel)}: read-only filesystem`, { cause: err });
    return err;
  }
}

function segments(rel: string, root: string): string[] {
  if (rel === '') return [];
  const segs = rel.split('/');
  if (rel.startsWith('/') || segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) {
    throw new ConfinedError('ESCAPE', join(root, rel), `${join(root, rel)}: not a plain path below ${root}`);
  }
  return segs;
}

/** Where an open descriptor really is (Linux /proc); elsewhere the path's realpath, which is racy but still refuses a plain link. */
async function fdPath(fh: FileHandle, path: string): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${fh.fd}`);
  } catch {
    return realpath(path);
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
