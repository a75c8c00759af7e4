import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Command } from 'commander';
import { macRange, serialRange, type IdentityBlock } from '../../src/core/blocks.js';
import { Books } from '../../src/records/books.js';
import { LogSync } from '../../src/outputs/stick-logs.js';
import { makeCheckpoint } from '../../src/records/checkpoint.js';
import { loadOrCreateStationKey, STATION_PUB_FILE } from '../../src/records/station-key.js';
import { registerBundleCommands } from '../../src/cli/bundle.js';
import type { MediaError } from '../../src/media/errors.js';
import { PLAN_YAML } from '../media/helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pijig = (...args: string[]) => execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), ...args], { cwd: ROOT, reject: false, all: true, timeout: 120_000 });

const WG: IdentityBlock = { serial: serialRange('WG', 6, 1, 1000), mac: macRange('02:50:4a:00:00:01', 1000) };

/** A station data directory with `n` units numbered from WG, a flash each. */
async function stationWith(dir: string, n: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const books = await Books.open({ dataDir: dir, stationId: 'jig-01', ranBefore: false });
  const ledger = books.ledger!;
  for (let i = 1; i <= n; i++) {
    const cycle = `cycle-${i}`;
    const id = ledger.nextIdentity(WG);
    const uid = `${i}`.padStart(24, '0');
    await ledger.append([...ledger.blockEntries(WG, 'station config'), { t: 'admit', cycle, uid, attempt: 1, locked: false }, { t: 'flash', cycle, image: 'f'.repeat(64), order: 'PO-7', uid }, { t: 'reserve', cycle, serial: id.serial, mac: id.mac, uid }]);
    await books.record({
      id: cycle,
      station: 'jig-01',
      plan: { name: 'p', product: 'widget' },
      image: { bundleId: 'b'.repeat(64), version: '1.0.0', imageHash: 'f'.repeat(64), regions: {} },
      order: 'PO-7',
      serial: id.serial,
      mac: id.mac,
      chipUid: uid,
      attempt: 1,
      flashes: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:00:05.000Z',
      durationMs: 5000,
      result: i % 4 === 0 ? 'FAIL' : 'PASS',
      steps: [{ name: 'identity', kind: 'identity', outcome: 'pass', startedAt: '', durationMs: 1, measurements: [] }],
    });
  }
  await books.close();
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pijig-cli-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

describe('pijig ledger verify / journal verify / journal repair / ledger reset', () => {
  it('ledger verify recomputes everything and ends with its figures; a ledger edited is found', async () => {
    const dir = join(root, 'station');
    await stationWith(dir, 5);
    const ok = await pijig('ledger', 'verify', '--data-dir', dir);
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout.trim().split('\n').at(-1)).toBe('units=5 serials=5 macs=5 flashes=5 wasted=0 ok');
    const path = join(dir, 'ledger.jsonl');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"serial":"WG000003"', '"serial":"WG000002"'));
    const bad = await pijig('ledger', 'verify', '--data-dir', dir);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/problem: .*ledger\.jsonl: line \d+: ledger entry #\d+ was edited/);
    await writeFile(path, text);
  }, 120_000);

  it('journal verify names the first edited, inserted, deleted or reordered record', async () => {
    const dir = join(root, 'station');
    const lines = (await readFile(join(dir, 'units.jsonl'), 'utf8')).trimEnd().split('\n');
    const ok = await pijig('journal', 'verify', join(dir, 'units.jsonl'));
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout).toMatch(/^records=5 head=[0-9a-f]{64} ok$/m);
    const cases: [string, (l: string[]) => string[], RegExp][] = [
      ['edited', (l) => l.map((x, i) => (i === 1 ? x.replace('"result":"PASS"', '"result":"FAIL"') : x)), /record #2 was edited/],
      ['deleted', (l) => l.filter((_, i) => i !== 2), /record #3 was deleted/],
      ['inserted', (l) => [...l.slice(0, 4), l[1]!, ...l.slice(4)], /a second record #2 was inserted after #4/],
      ['reordered', (l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)], /record #2 is out of order/],
    ];
    for (const [what, edit, message] of cases) {
      const file = join(root, `${what}.jsonl`);
      await writeFile(file, `${edit(lines).join('\n')}\n`);
      const r = await pijig('journal', 'verify', file);
      expect(r.exitCode, `${what}: ${r.all}`).toBe(1);
      expect(r.stderr, what).toMatch(message);
    }
  }, 240_000);

  it('journal verify checks the signed checkpoint beside a stick\'s logs, with the station key', async () => {
    const dir = join(root, 'station');
    const { key } = await loadOrCreateStationKey(dir);
    const books = await Books.open({ dataDir: dir, stationId: 'jig-01', ranBefore: true });
    const stick = join(root, 'stick');
    await mkdir(stick, { recursive: true });
    const checkpoint = (at: { seq: number; head: string; counts: Record<'PASS' | 'FAIL' | 'ERROR' | 'ABORTED', number> }) => JSON.stringify(makeCheckpoint(key, { station: 'jig-01', ...at, at: new Date().toISOString() }));
    await new LogSync({ journal: books.journal, stationId: 'jig-01', checkpoint }).sync(stick);
    await books.close();
    const logs = join(stick, 'pijig/logs/jig-01/units.jsonl');
    const ok = await pijig('journal', 'verify', logs, '--station-key', join(dir, STATION_PUB_FILE));
    expect(ok.exitCode, ok.all).toBe(0);
    expect(ok.stdout).toMatch(/checkpoint: #5 signed by sha256:[0-9a-f]{64} \(the station key given\)/);
    // the last record deleted and the chain otherwise whole: only the checkpoint can tell
    const lines = (await readFile(logs, 'utf8')).trimEnd().split('\n');
    await writeFile(logs, `${lines.slice(0, -1).join('\n')}\n`);
    const cut = await pijig('journal', 'verify', logs, '--station-key', join(dir, STATION_PUB_FILE));
    expect(cut.exitCode).toBe(1);
    expect(cut.stderr).toMatch(/records #5..#5 were deleted \(the checkpoint signed #5\)/);
    // and pijig audit, on the stick
    const audit = await pijig('audit', stick, '--station-key', join(dir, STATION_PUB_FILE));
    expect(audit.exitCode).toBe(1);
    expect(audit.stderr).toMatch(/finding: jig-01: records #5..#5 were deleted/);
    await writeFile(logs, `${lines.join('\n')}\n`);
    const clean = await pijig('audit', stick, '--station-key', join(dir, STATION_PUB_FILE));
    expect(clean.exitCode, clean.all).toBe(0);
    expect(clean.stdout).toMatch(/order PO-7: 5 boards, 5 flashes/);
    expect(clean.stdout.trim().split('\n').at(-1)).toBe('stations=1 units=5 boards=5 findings=0 ok');
  }, 240_000);

  it('journal repair (station stopped) and ledger reset (both lost) are on the record', async () => {
    const dir = join(root, 'repair');
    await stationWith(dir, 3);
    const path = join(dir, 'units.jsonl');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    lines[1] = '{"seq":2,"prev":"damaged';
    await writeFile(path, `${lines.join('\n')}\n`);
    const repair = await pijig('journal', 'repair', '--data-dir', dir, '--by', 'ana');
    expect(repair.exitCode, repair.all).toBe(0);
    expect(repair.stdout).toMatch(/record #2: a damaged line; replaced by a record of the repair/);
    expect((await pijig('ledger', 'verify', '--data-dir', dir)).exitCode).toBe(0);
    expect(await readFile(join(dir, 'ledger.jsonl'), 'utf8')).toMatch(/"t":"note","what":"journal repair"/);

    const lost = join(root, 'lost');
    await mkdir(lost, { recursive: true });
    await loadOrCreateStationKey(lost); // it has run before
    const refused = await pijig('ledger', 'reset', '--data-dir', dir, '--station', 'jig-01', '--reason', 'x');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/ledger\.jsonl exists: nothing to reset/);
    const reset = await pijig('ledger', 'reset', '--data-dir', lost, '--station', 'jig-01', '--reason', 'SD card replaced after a fault', '--by', 'ana');
    expect(reset.exitCode, reset.all).toBe(0);
    expect(JSON.parse((await readFile(join(lost, 'ledger.jsonl'), 'utf8')).split('\n')[0]!)).toMatchObject({ n: 1, t: 'open', origin: 'reset', reason: 'SD card replaced after a fault', by: expect.stringMatching(/^ana@/) });
  }, 240_000);
});

describe('blocks refused where they are made and checked', () => {
  async function bundle(stations: Record<string, unknown>): Promise<{ template: string; files: string }> {
    const files = join(root, `files-${Math.random().toString(16).slice(2)}`);
    await mkdir(files, { recursive: true });
    await writeFile(join(files, 'app.bin'), Buffer.alloc(1024, 7));
    await writeFile(join(files, 'plan.yaml'), PLAN_YAML);
    const template = join(files, 'manifest.json');
    await writeFile(template, JSON.stringify({ product: 'blinky', version: '1.0.0', build: 'ci', target: 'stm32f103c8', regions: [{ name: 'application', file: 'app.bin', address: '0x08000000' }], plan: { file: 'plan.yaml' }, identity: { stations } }));
    return { template, files };
  }
  async function create(stations: Record<string, unknown>, ...extra: string[]): Promise<MediaError | undefined> {
    const { template, files } = await bundle(stations);
    const program = new Command('pijig').exitOverride();
    registerBundleCommands(program, { out: () => {} });
    return program.parseAsync(['bundle', 'create', '--manifest', template, '--files', files, '--out', join(files, 'out'), ...extra], { from: 'user' }).then(
      () => undefined,
      (e: unknown) => e as MediaError,
    );
  }
  const block = (start: number, mac: string, count = 100) => ({ serial: { prefix: 'WG', start, count, digits: 6 }, mac: { start: mac, count } });

  it('bundle create: two stations\' blocks that overlap, a broadcast or wrapping MAC block, numbers wider than their digits', async () => {
    expect(await create({ a: block(1, '02:00:00:00:00:01'), b: block(101, '02:00:00:00:01:00') })).toBeUndefined();
    expect(await create({ a: block(1, '02:00:00:00:00:01'), b: block(50, '02:00:00:00:01:00') })).toMatchObject({
      code: 'BLOCK_OVERLAP',
      field: 'identity.stations.b.serial',
      message: expect.stringContaining('serial WG000050..WG000149 (100) overlaps serial WG000001..WG000100 (100) (the block of station a)'),
    });
    expect(await create({ a: block(1, 'ff:ff:ff:ff:ff:ff', 2) })).toMatchObject({ code: 'BLOCK_INVALID', field: 'identity.stations.a.mac' });
    expect(await create({ a: block(1, '00:00:00:00:00:00') })).toMatchObject({ code: 'BLOCK_INVALID', message: expect.stringContaining('not a usable MAC') });
    expect(await create({ a: { serial: { prefix: 'WG', start: 999_990, count: 100, digits: 6 }, mac: { start: '02:00:00:00:00:01', count: 100 } } })).toMatchObject({ code: 'BLOCK_INVALID', message: expect.stringContaining('has more than 6 digits') });
    expect(await create({ a: { serial: { prefix: 'WG', start: 1, count: 100 } } })).toMatchObject({ code: 'MANIFEST_INVALID' }); // a block holds both serials and MACs
  });

  it('bundle create --used: a block that overlaps numbers a station has used (its data directory\'s ledger)', async () => {
    const dir = join(root, 'used');
    await stationWith(dir, 2); // jig-01 numbered WG000001..2 from WG000001..WG001000
    expect(await create({ 'jig-01': block(1, '02:50:4a:00:00:01', 2000) }, '--used', dir)).toBeUndefined(); // its own block, extended
    expect(await create({ 'jig-02': block(1, '02:50:4a:00:10:00', 2000) }, '--used', dir)).toMatchObject({ code: 'BLOCK_OVERLAP', message: expect.stringContaining('used by station jig-01') });
    expect(await create({ 'jig-01': block(500, '02:50:4a:00:10:00') }, '--used', dir)).toMatchObject({ code: 'BLOCK_OVERLAP' });
  });

  it('config check: a station block that overlaps what its ledger used, or a MAC block that is not unicast', async () => {
    const dir = join(root, 'cfg');
    await stationWith(join(dir, 'data'), 2);
    const example = await readFile(join(ROOT, 'jig-config', 'station.yaml'), 'utf8');
    const file = join(dir, 'station.yaml');
    await writeFile(file, example.replace('data_dir: /var/lib/pijig', 'data_dir: data').replace('first: 1', 'first: 2').replace(/plan: plan\.yaml/, 'plan: /dev/null'));
    const overlap = await pijig('config', 'check', file);
    expect(overlap.exitCode).toBe(1);
    expect(overlap.stderr).toMatch(/BLOCK_OVERLAP: .*station\.yaml: identity \(serial\): serial WG000002..WG100001 \(100000\) overlaps serial WG000001..WG001000 \(1000\)/);
    await writeFile(file, example.replace('data_dir: /var/lib/pijig', 'data_dir: data2').replace('"02:50:4a:00:00:01"', '"03:50:4a:00:00:01"'));
    const multicast = await pijig('config', 'check', file);
    expect(multicast.exitCode).toBe(1);
    expect(multicast.stderr).toMatch(/identity\.mac_first: 03:50:4a:00:00:01 is a group \(multicast\) address/);
  }, 120_000);
});
