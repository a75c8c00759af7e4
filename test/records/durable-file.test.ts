import { describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DurableJsonFile } from '../../src/records/durable-file.js';
import { writeFileAtomic } from '../../src/util/fs.js';
import { tempDir } from '../media/helpers.js';

describe('durable files', () => {
  it('writeFileAtomic replaces the content whole and leaves no temp file behind', async () => {
    const dir = await tempDir('pijig-durable-');
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('a failed write leaves the old content (the rename never happened)', async () => {
    const dir = await tempDir('pijig-durable-');
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'old');
    await expect(writeFileAtomic(join(dir, 'missing-dir', 'state.json'), 'new')).rejects.toThrow(/ENOENT/);
    expect(await readFile(path, 'utf8')).toBe('old');
  });

  it('the lowdb adapter reads null for a missing file, round-trips data, and names a damaged file', async () => {
    const dir = await tempDir('pijig-durable-');
    const file = new DurableJsonFile<{ n: number }>(join(dir, 'sub', 'state.json'));
    expect(await file.read()).toBeNull();
    await file.write({ n: 41 });
    expect(await file.read()).toEqual({ n: 41 });
    await writeFile(join(dir, 'sub', 'state.json'), '{"n": 4');
    await expect(file.read()).rejects.toThrow(`${join(dir, 'sub', 'state.json')}: not valid JSON`);
  });

  it('an unreadable file is an error, not an empty state', async () => {
    const dir = await tempDir('pijig-durable-');
    await mkdir(join(dir, 'state.json'));
    await expect(new DurableJsonFile(join(dir, 'state.json')).read()).rejects.toThrow(/EISDIR/);
  });
});
