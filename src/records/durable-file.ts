import { readFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { Adapter } from 'lowdb';

/**
 * The explicit lowdb adapter for small state: JSON, written atomically and durably. (lowdb's own
 * JSONFile renames without fsync, and its preset turns in-memory under NODE_ENV=test.)
 */
export class DurableJsonFile<T> implements Adapter<T> {
  constructor(private readonly path: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`${this.path}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }

  async write(data: T): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`);
  }
}
