import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvField, csvHeader, exportUnits, toCsv, unitCsvLine } from '../../src/records/export.js';
import type { UnitRecord } from '../../src/core/record.js';

const record = (over: Partial<UnitRecord> = {}): UnitRecord => ({
  seq: 7,
  id: 'u-7',
  station: 'st-01',
  plan: { name: 'p', product: 'blinky' },
  image: { bundleId: 'b1', version: '1.4.2', imageHash: 'ab12', regions: { application: 'cd34' } },
  serial: 'BLK-001007',
  mac: '02:50:4a:00:00:07',
  startedAt: '2025-03-01T08:00:07.000Z',
  endedAt: '2025-03-01T08:00:16.000Z',
  durationMs: 9007,
  result: 'FAIL',
  failedStep: 'current',
  reason: 'LIMIT_HIGH',
  steps: [],
  ...over,
});

/** A small RFC 4180 reader, to prove what a spreadsheet would read back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += c;
  }
  return rows;
}

describe('CSV export', () => {
  it('has a header and one line per unit: station, chip UID, attempt, bundle, order, times, message', () => {
    const head = 'seq,station,serial,mac,chip_uid,attempt,image_hash,version,bundle_id,order,result,failed_step,reason,message,started_at,ended_at,duration_ms';
    expect(csvHeader()).toBe(`${head}\r\n`);
    expect(unitCsvLine(record({ chipUid: '066cff343530474b43164334', attempt: 2, order: 'PO-1', message: 'run_mean_ma = 61 mA > max 50 mA' }))).toBe(
      '7,st-01,BLK-001007,02:50:4a:00:00:07,066cff343530474b43164334,2,ab12,1.4.2,b1,PO-1,FAIL,current,LIMIT_HIGH,run_mean_ma = 61 mA > max 50 mA,2025-03-01T08:00:07.000Z,2025-03-01T08:00:16.000Z,9007\r\n',
    );
    expect(unitCsvLine(record({ image: undefined, serial: undefined, mac: undefined, failedStep: undefined, reason: undefined, result: 'ERROR' }))).toBe(
      '7,st-01,,,,,,,,,ERROR,,,,2025-03-01T08:00:07.000Z,2025-03-01T08:00:16.000Z,9007\r\n',
    );
  });

  it('one column per measurement the plan declares, numbers as numbers, missing ones empty', async () => {
    const measured = record({
      plan: { name: 'p', product: 'blinky', measurements: ['run_mean_ma', 'fw', 'mac', 'locked'] },
      steps: [
        { name: 'current', kind: 'current', outcome: 'pass', startedAt: '', durationMs: 1, measurements: [{ name: 'run_mean_ma', value: 31.25, unit: 'mA', verdict: 'pass' }] },
        { name: 'lock', kind: 'lock', outcome: 'pass', startedAt: '', durationMs: 1, measurements: [{ name: 'locked', value: true, verdict: 'pass' }] },
      ],
    });
    const columns = measured.plan.measurements!;
    // "mac" is a fixed column too: the measurement's is m:mac
    expect(csvHeader(columns)).toMatch(/,duration_ms,run_mean_ma,fw,m:mac,locked\r\n$/);
    expect(unitCsvLine(measured, columns)).toMatch(/,9007,31\.25,,,true\r\n$/);
    // the export takes the columns of every plan in the records, first seen first
    const csv = await toCsv([record(), measured, record({ plan: { name: 'q', product: 'blinky', measurements: ['temp_c'] } })]);
    expect(csv.split('\r\n')[0]).toMatch(/,duration_ms,run_mean_ma,fw,m:mac,locked,temp_c$/);
  });

  it('quotes commas, quotes and line breaks, and reads back exactly', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    const nasty = record({ serial: 'A,"B"\r\nC', failedStep: 'step, with "quotes"' });
    const rows = parseCsv(csvHeader() + unitCsvLine(nasty) + unitCsvLine(record()));
    expect(rows).toHaveLength(3);
    expect(rows[1]![2]).toBe('A,"B"\r\nC');
    expect(rows[1]![11]).toBe('step, with "quotes"');
  });

  it('defuses spreadsheet formulas in text, not in numbers', () => {
    expect(csvField('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvField('+1+1')).toBe("'+1+1");
    expect(csvField('-2+3')).toBe("'-2+3");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\t=1')).toBe("'\t=1");
    expect(csvField(-5)).toBe('-5');
    expect(csvField('BLK-1')).toBe('BLK-1');
    expect(parseCsv(unitCsvLine(record({ serial: '=cmd|calc' })))[0]![2]).toBe("'=cmd|calc");
  });

  it('writes CSV and JSON files atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-export-'));
    try {
      await exportUnits([record(), record({ seq: 8, id: 'u-8', result: 'PASS' })], join(dir, 'out/units.csv'), 'csv');
      expect(await readFile(join(dir, 'out/units.csv'), 'utf8')).toBe(await toCsv([record(), record({ seq: 8, id: 'u-8', result: 'PASS' })]));
      await exportUnits([record()], join(dir, 'units.json'), 'json');
      expect(JSON.parse(await readFile(join(dir, 'units.json'), 'utf8'))).toEqual([record()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
