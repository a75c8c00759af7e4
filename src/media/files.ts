import { dirname, relative, sep } from 'node:path';
import { ConfinedDir } from '../util/confined.js';

/**
 * The one seam between the importer and the stick's bytes, so tests can pull the stick in the
 * middle of a file (a read that fails, a source that vanishes) without mocking node:fs.
 */
export interface SourceFiles {
  /**
   * The bytes of a regular file, in order. Nothing below `root` (default: the file's folder) may
   * be a symbolic link, the file is opened non-blocking (a FIFO is refused, not waited on) and a
   * file larger than `maxBytes` is refused before it is read (ConfinedError from util/confined.ts).
   */
  read(path: string, options?: SourceReadOptions): AsyncIterable<Uint8Array>;
}

export interface SourceReadOptions {
  /** The stick's root: no link is followed below it. */
  root?: string;
  maxBytes?: number;
}

export const nodeSourceFiles: SourceFiles = {
  async *read(path, options = {}) {
    const root = options.root ?? dirname(path);
    const rel = relative(root, path);
    const dir = await ConfinedDir.open(root);
    yield* dir.read(rel.split(sep).join('/'), options.maxBytes);
  },
};
