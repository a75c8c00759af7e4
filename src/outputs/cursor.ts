import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/fs.js';
import type { Position } from './output.js';

const cursorSchema = z.object({ seq: z.int().min(0), id: z.string().optional(), updatedAt: z.string().optional() });

/**
 * The follower's durable cursor of one output: `<data dir>/outputs/<name>.cursor.json`, written
 * atomically (temp, fsync, rename, directory fsync) after the output has the records, so a crash
 * can only make it lag (a record delivered again), never run ahead (a record lost).
 */
export class FileCursor {
  readonly path: string;

  constructor(dataDir: string, name: string) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new RangeError(`output name "${name}": letters, digits, ".", "_", "-"`);
    this.path = join(dataDir, 'outputs', `${name}.cursor.json`);
  }

  async load(): Promise<Position> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0 };
      throw err;
    }
    const parsed = cursorSchema.safeParse(safeJson(text));
    if (!parsed.success) throw new Error(`${this.path}: not a cursor (${parsed.error.issues[0]?.message ?? 'invalid'}); delete it to deliver every record again`);
    return parsed.data.id === undefined ? { seq: parsed.data.seq } : { seq: parsed.data.seq, id: parsed.data.id };
  }

  async save(position: Position): Promise<void> {
    await mkdir(join(this.path, '..'), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify({ ...position, updatedAt: new Date().toISOString() })}\n`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
