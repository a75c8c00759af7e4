import { describe, expect, it } from 'vitest';
import { terminalLines, oledText, TERMINAL_COLS, TERMINAL_ROWS } from '../../src/sim/terminal.js';
import { watchScreen, WATCH_COLS, WATCH_ROWS } from '../../src/cli/watch.js';
import { renderScreen } from '../../src/operator/render.js';
import { oledRows } from '../../src/control/oled-text.js';
import type { UnitRecord } from '../../src/core/record.js';

const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('terminals fit 80x24 (an SSH session\'s default)', () => {
  const oled = renderScreen({ kind: 'fail', step: 'boot current consumption check', reason: 'LIMIT_HIGH', detail: 'run_mean_ma 61.2 above 50' });

  it('the virtual jig\'s own terminal, with a long log and every key', () => {
    const last = { seq: 12345, serial: 'WG000123', result: 'FAIL', reason: 'LIMIT_HIGH', durationMs: 5123 } as UnitRecord;
    const lines = terminalLines({
      oled: oledText(oled),
      state: 'unit_error',
      lidClosed: false,
      outputs: { dutPower: true, green: false, red: true, amber: true, buzzer: true },
      last,
      keys: [['l', 'lid'], ['s', 'START'], ['a', 'ABORT'], ['i', 'stick+image'], ['u', 'stick'], ['p', 'pull'], ['b', 'scan']],
      log: Array.from({ length: 40 }, (_, i) => `12:00:${String(i).padStart(2, '0')} a long log line that goes on and on about a device that did something noteworthy at this time`),
      note: 'socket /home/engineer/projects/pijig/.pijig-sim/control.sock',
    });
    expect(lines.length).toBeLessThanOrEqual(TERMINAL_ROWS);
    for (const l of lines) expect(visible(l).length, l).toBeLessThanOrEqual(TERMINAL_COLS);
    expect(lines.join('\n')).toContain(oledRows(oled)[0]);
    expect(visible(lines.at(-1)!)).toMatch(/a long log line/);
  });

  it('pijig watch, with many events', () => {
    const lines = watchScreen({ station: 'line1-jig01', state: 'running', job: 'widget 1.2.0', counts: { pass: 1234, fail: 56, error: 7 }, oled: oledRows(oled), events: Array.from({ length: 30 }, (_, i) => `00:00:${i} step  boot current PASS 0.5 s  run_mean_ma=30.1 mA [20..50] pass  run_max_ma=30.4 mA [..60] pass`) });
    expect(lines).toHaveLength(WATCH_ROWS);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(WATCH_COLS);
    expect(lines.at(-1)).toBe('Ctrl-C leaves');
    expect(lines[1]).toMatch(/^┌─+┐$/);
  });
});
