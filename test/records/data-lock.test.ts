import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { DataDirLock, LOCK_FILE, lockHolder } from '../../src/records/data-lock.js';
import { OWN_START_TIME } from '../../src/util/proc.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'pijig-lock-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('one process per data directory', () => {
  it('a second taker is refused at once, naming the holder; released, the directory is free', async () => {
    const lock = await DataDirLock.acquire(dir, 'pijig serve');
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, startTime: OWN_START_TIME, command: 'pijig serve' });
    await expect(DataDirLock.acquire(dir, 'pijig sim')).rejects.toMatchObject({
      code: 'LOCK_HELD',
      message: expect.stringMatching(new RegExp(`^data directory .* is in use by pijig pid ${process.pid} \\(pijig serve, since `)),
    });
    expect((await lockHolder(dir))?.pid).toBe(process.pid);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    const again = await DataDirLock.acquire(dir, 'pijig sim');
    await again.release();
  });

  it('a lock left by a process that is gone (SIGKILL, power cut) is stale and taken over', async () => {
    const gone = await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(gone.stdout), startTime: '1', startedAt: '2026-01-01', command: 'pijig sim' }));
    const lock = await DataDirLock.acquire(dir, 'pijig sim');
    expect(lock.holder.pid).toBe(process.pid);
    await lock.release();
  });

  it('a lock whose pid now names another process (its start time differs) is stale', async () => {
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, startTime: '1', startedAt: '2026-01-01', command: 'pijig sim' }));
    const lock = await DataDirLock.acquire(dir, 'pijig sim');
    await lock.release();
  });

  it('a data directory that cannot be written is a clear start-up error', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await expect(DataDirLock.acquire(join(dir, 'file', 'data'), 'pijig sim')).rejects.toMatchObject({
      code: 'DATA_DIR_NOT_WRITABLE',
      message: expect.stringMatching(/data directory .*file\/data is not writable \(ENOTDIR\)/),
    });
  });
});
