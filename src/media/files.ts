import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * The one seam between the importer and the stick's bytes, so tests can pull the stick in the
 * middle of a file (a read that fails, a source that vanishes) without mocking node:fs.
 */
export interface SourceFiles {
  /**
   * The bytes of a file, in order. Opens without following a symbolic link in the last path
   * component (ELOOP), so a link swapped in after the lstat check is still refused.
   */
  read(path: string): AsyncIterable<Uint8Array>;
}

const CHUNK = 256 * 1024;

export const nodeSourceFiles: SourceFiles = {
  async *read(path) {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) return;
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  },
};
