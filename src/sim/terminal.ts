import type { Station } from '../station/station.js';
import type { OperatorPanel } from '../operator/panel.js';
import type { UnitRecord } from '../core/record.js';

import type { Framebuffer } from '../devices/display/framebuffer.js';

// Unicode quadrant blocks indexed by the 2x2 pixel pattern: bit 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
const QUADRANTS = [' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█'];

/** The OLED at 2x2 pixels per character: 64 columns x 32 rows, so it fits an 80-column terminal. */
export function toQuadrants(fb: Framebuffer): string {
  const rows: string[] = [`┌${'─'.repeat(fb.width / 2)}┐`];
  for (let y = 0; y < fb.height; y += 2) {
    let line = '│';
    for (let x = 0; x < fb.width; x += 2) {
      const bits = (fb.getPixel(x, y) ? 1 : 0) | (fb.getPixel(x + 1, y) ? 2 : 0) | (fb.getPixel(x, y + 1) ? 4 : 0) | (fb.getPixel(x + 1, y + 1) ? 8 : 0);
      line += QUADRANTS[bits];
    }
    rows.push(`${line}│`);
  }
  rows.push(`└${'─'.repeat(fb.width / 2)}┘`);
  return rows.join('\n');
}

export interface TerminalJig {
  /** The OLED as text (see toQuadrants). */
  oled(): string;
  lidClosed: boolean;
  setLid(closed: boolean): void;
  press(button: 'start' | 'abort'): void;
  /** Physical outputs, for the status line. */
  outputs(): { dutPower: boolean; green: boolean; red: boolean; amber: boolean; buzzer: boolean };
  /** Extra keys of the virtual jig (insert/pull a stick, faults): key → [label, action]. */
  extraKeys?: Record<string, [label: string, action: () => void]>;
}

/**
 * The virtual jig in a terminal: the OLED drawn live, the tower light and relay below it, keys
 * for the lid and the buttons. Redraws on every screen change (at most 20 times a second).
 */
export function runTerminal(jig: TerminalJig, { station, panel }: { station: Station; panel: OperatorPanel }, opts: { input: NodeJS.ReadStream; output: NodeJS.WriteStream }): Promise<void> {
  const { input, output } = opts;
  const log: string[] = [];
  let last: UnitRecord | undefined;
  let pending: NodeJS.Timeout | undefined;
  const keys: Record<string, [string, () => void]> = {
    l: ['lid', () => jig.setLid(!jig.lidClosed)],
    s: ['START', () => jig.press('start')],
    a: ['ABORT', () => jig.press('abort')],
    ...(jig.extraKeys ?? {}),
  };

  const draw = () => {
    pending = undefined;
    const o = jig.outputs();
    const lamp = (on: boolean, colour: number, label: string) => (on ? `\x1b[${colour}m● ${label}\x1b[0m` : `\x1b[90m○ ${label}\x1b[0m`);
    const lines = [
      '\x1b[H\x1b[2J\x1b[1mpijig virtual jig\x1b[0m',
      '',
      ...jig.oled().split('\n').map((l) => `  ${l}`),
      '',
      `  ${lamp(o.green, 32, 'PASS')} ${lamp(o.red, 31, 'FAIL')} ${lamp(o.amber, 33, 'BUSY')} ${lamp(o.buzzer, 35, 'beep')}  DUT ${o.dutPower ? '\x1b[33mON\x1b[0m' : 'off'}  lid ${jig.lidClosed ? 'closed' : '\x1b[1mOPEN\x1b[0m'}  ${station.state}`,
      last ? `  last unit: #${last.seq} ${last.serial ?? '-'} ${last.result}${last.reason ? ` ${last.reason}` : ''} (${(last.durationMs / 1000).toFixed(1)} s)` : '  last unit: -',
      '',
      `  ${Object.entries(keys).map(([k, [label]]) => `\x1b[1m${k}\x1b[0m ${label}`).join('  ')}  \x1b[1mq\x1b[0m quit`,
      '',
      ...log.slice(-8).map((l) => `  \x1b[90m${l}\x1b[0m`),
    ];
    output.write(lines.join('\n') + '\n');
  };
  const schedule = () => {
    pending ??= setTimeout(draw, 50);
  };

  const offs = [
    panel.on('screen', schedule),
    station.on('state', schedule),
    station.on('record', (r) => {
      last = r;
      schedule();
    }),
    station.on('log', (m) => {
      log.push(`${new Date().toISOString().slice(11, 19)} ${m}`);
      schedule();
    }),
  ];
  draw();

  return new Promise((resolve) => {
    if (input.isTTY) input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    const onData = (key: string) => {
      if (key === 'q' || key === '\u0003') {
        input.off('data', onData);
        if (input.isTTY) input.setRawMode(false);
        input.pause();
        for (const off of offs) off();
        if (pending) clearTimeout(pending);
        output.write('\n');
        resolve();
        return;
      }
      keys[key]?.[1]();
      schedule();
    };
    input.on('data', onData);
  });
}
