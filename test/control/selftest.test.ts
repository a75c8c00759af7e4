import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { booksCheck, journalConsistency, probeCheck, writableCheck, diskCheck, openocdCheck } from '../../src/control/selftest.js';
import { probeSchema } from '../../src/config/station.js';
import { cli } from '../helpers/cli-harness.js';
import { macRange, serialRange, type IdentityBlock } from '../../src/core/blocks.js';
import { Books } from '../../src/records/books.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('selftest checks', () => {
  it('finds an ST-Link by its USB IDs in sysfs (and its serial when the config names one); names what is missing', async () => {
    const sys = await mkdtemp(join(tmpdir(), 'pijig-usb-'));
    try {
      const dev = async (name: string, files: Record<string, string>) => {
        await mkdir(join(sys, name), { recursive: true });
        for (const [f, v] of Object.entries(files)) await writeFile(join(sys, name, f), `${v}\n`);
      };
      await dev('1-1', { idVendor: '046d', idProduct: 'c52b', product: 'USB Receiver' });
      const stlink = probeSchema.parse({ kind: 'stlink', target: 'target/stm32f1x.cfg' });
      expect(await probeCheck(stlink, sys)).toEqual({ name: 'probe', ok: false, detail: `no stlink probe on USB (${sys})` });
      await dev('1-2', { idVendor: '0483', idProduct: '374b', product: 'STM32 STLink', serial: '066DFF' });
      expect(await probeCheck(stlink, sys)).toEqual({ name: 'probe', ok: true, detail: 'STM32 STLink 0483:374b serial 066DFF' });
      expect((await probeCheck({ ...stlink, serial: 'OTHER' }, sys)).ok).toBe(false);
      const cmsis = probeSchema.parse({ kind: 'cmsis-dap', target: 'target/stm32f1x.cfg' });
      expect((await probeCheck(cmsis, sys)).ok).toBe(false);
      await dev('1-3', { idVendor: 'c251', idProduct: 'f001', product: 'LPC-Link CMSIS-DAP' });
      expect(await probeCheck(cmsis, sys)).toMatchObject({ ok: true, detail: expect.stringMatching(/CMSIS-DAP c251:f001/) });
      expect(await probeCheck(undefined, sys)).toMatchObject({ ok: true, skipped: true });
    } finally {
      await rm(sys, { recursive: true, force: true });
    }
  });

  it('journal and ledger: consistent books pass with their figures; a journal record edited by hand fails, naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-books-'));
    try {
      const block: IdentityBlock = { serial: serialRange('WG', 6, 1, 100), mac: macRange('02:50:4a:00:00:01', 100) };
      const books = await Books.open({ dataDir: dir, stationId: 'jig-01', ranBefore: false });
      await books.ledger!.useBlock(block, 'config');
      for (const cycle of ['c-1', 'c-2']) {
        const identity = books.ledger!.nextIdentity(block);
        await books.ledger!.append([
          { t: 'cycle', cycle, startedAt: '2026-01-01T00:00:00.000Z', plan: { name: 'p', product: 'widget' } },
          { t: 'admit', cycle, attempt: 1, locked: false },
          { t: 'reserve', cycle, serial: identity.serial, mac: identity.mac },
        ]);
        await books.record({
          id: cycle, station: 'jig-01', plan: { name: 'p', product: 'widget' }, serial: identity.serial, mac: identity.mac, attempt: 1, flashes: 0,
          startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:05.000Z', durationMs: 5000, result: 'PASS',
          steps: [{ name: 'identity', kind: 'identity', outcome: 'pass', startedAt: '', durationMs: 1, measurements: [] }],
        });
      }
      await books.close();
      const j = join(dir, 'units.jsonl');
      expect(await booksCheck(dir, j)).toEqual({ name: 'journal and ledger', ok: true, detail: 'units=2 serials=2 macs=2 flashes=0 wasted=0: consistent' });
      await writeFile(j, (await readFile(j, 'utf8')).replace('WG000002', 'WG000099'));
      expect(await booksCheck(dir, j)).toMatchObject({ ok: false, detail: expect.stringMatching(/unit #2: serial WG000099 in the journal, WG000002 in the ledger/) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the journal: seqs in order pass; a gap or a damaged line fails with its line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-jc-'));
    try {
      const j = join(dir, 'units.jsonl');
      await writeFile(j, '{"seq":1}\n{"seq":2}\n');
      expect(await journalConsistency(j)).toMatchObject({ ok: true, detail: expect.stringMatching(/2 records/) });
      await writeFile(j, '{"seq":1}\n{"seq":3}\n');
      expect(await journalConsistency(j)).toMatchObject({ ok: false, detail: `${j}:2: seq 3, expected 2` });
      await writeFile(j, '{"seq":1}\n{"seq":2,\n');
      expect(await journalConsistency(j)).toMatchObject({ ok: false, detail: `${j}:2: not a JSON record` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('data directory and disk: writable and big enough, or why not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-wc-'));
    try {
      expect(await writableCheck(dir)).toMatchObject({ ok: true });
      await writeFile(join(dir, 'file'), 'x');
      expect(await writableCheck(join(dir, 'file'))).toMatchObject({ ok: false, detail: expect.stringMatching(/ENOTDIR/) });
      expect(await diskCheck(dir, 1)).toMatchObject({ ok: true });
      expect(await diskCheck(dir, Number.MAX_SAFE_INTEGER)).toMatchObject({ ok: false, detail: expect.stringMatching(/records may not be saved/) });
      expect(await diskCheck(join(dir, 'none'), 1)).toMatchObject({ ok: false, detail: expect.stringMatching(/does not exist/) });
      expect(await openocdCheck(join(dir, 'no-openocd'))).toMatchObject({ ok: false, detail: expect.stringMatching(/not installed/) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pijig selftest with the service stopped', () => {
  it('checks the hardware of the station config directly and names what is absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-st-direct-'));
    try {
      const station = join(dir, 'station.yaml');
      await writeFile(station, (await readFile(join(ROOT, 'jig-config/station.yaml'), 'utf8')).replace('data_dir: /var/lib/pijig', `data_dir: ${dir}/data`).replace('plan: plan.yaml', `plan: ${ROOT}/jig-config/plan.yaml`));
      await mkdir(join(dir, 'data'));
      const r = cli(join(dir, 'no-service.sock'));
      await r.run('selftest', '--config', station);
      expect(r.err).toEqual([`no service at ${join(dir, 'no-service.sock')}: checking the hardware of ${station} directly`]);
      expect(r.exitCode).toBe(1);
      const text = r.out.join('\n');
      expect(text).toMatch(/^PASS  openocd +openocd 0\.12/m);
      // this machine is no Pi: the devices of the wiring are named as absent (or answer, on a jig)
      for (const name of ['probe', 'i2c ssd1306 i2c-1 0x3c', 'i2c ina219 i2c-1 0x40', 'i2c tcs34725 i2c-1 0x29']) expect(text).toMatch(new RegExp(`^(PASS|FAIL)  ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'));
      expect(text).toMatch(/^PASS  data directory /m);
      expect(r.out.at(-1)).toMatch(/checks FAILED \(direct /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
