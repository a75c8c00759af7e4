import type { Station } from '../station/station.js';
import type { OperatorPanel } from '../operator/panel.js';
import type { UnitRecord } from '../core/record.js';
import type { Framebuffer } from '../devices/display/framebuffer.js';
import { boxed, oledRows } from '../control/oled-text.js';

export const TERMINAL_ROWS = 24;
export const TERMINAL_COLS = 80;

/** The OLED as text, boxed: braille at 2x4 pixels per character, 66 columns by 18 rows for a 128x64 panel. */
export function oledText(fb: Framebuffer): string {
  return boxed(oledRows(fb)).join('\n');
}

export interface TerminalJig {
  /** The OLED as text (see oledText). */
  oled(): string;
  lidClosed: boolean;
  setLid(closed: boolean): void;
  press(button: 'start' | 'abort'): void;
  /** Physical outputs, for the status line. */
  outputs(): { dutPower: boolean; green: boolean; red: boolean; amber: boolean; buzzer: boolean };
  /** Extra keys of the virtual jig (insert/pull a stick, scan a label): key → [label, action]. */
  extraKeys?: Record<string, [label: string, action: () => void]>;
  /** A line under the title (e.g. where the control socket is). */
  note?: string;
  /** The log lines: the service's log and the jig's own messages. Without it, the station's log. */
  onNote?(listener: (message: string) => void): () => void;
}

export interface TerminalView {
  oled: string;
  state: string;
  lidClosed: boolean;
  outputs: ReturnType<TerminalJig['outputs']>;
  last: UnitRecord | undefined;
  keys: [key: string, label: string][];
  log: string[];
  note?: string;
}

const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Cut a line with colour codes to `cols` visible characters. */
function fit(line: string, cols = TERMINAL_COLS): string {
  if (visible(line).length <= cols) return line;
  let out = '';
  let n = 0;
  for (let i = 0; i < line.length && n < cols - 1; i++) {
    const esc = /^\x1b\[[0-9;]*m/.exec(line.slice(i));
    if (esc) {
      out += esc[0];
      i += esc[0].length - 1;
    } else {
      out += line[i];
      n++;
    }
  }
  return `${out}…\x1b[0m`;
}

/** The virtual jig's screen: exactly fits 80x24 (the OLED box is 18 rows; title, status, keys and log share the rest). */
export function terminalLines(v: TerminalView): string[] {
  const o = v.outputs;
  const lamp = (on: boolean, colour: number, label: string) => (on ? `\x1b[${colour}m● ${label}\x1b[0m` : `\x1b[90m○ ${label}\x1b[0m`);
  const oled = v.oled.split('\n');
  const last = v.last ? `#${v.last.seq} ${v.last.serial ?? '-'} ${v.last.result}${v.last.reason ? ` ${v.last.reason}` : ''} ${(v.last.durationMs / 1000).toFixed(1)} s` : '-';
  const head = [`\x1b[1mpijig virtual jig\x1b[0m  ${v.state}  lid ${v.lidClosed ? 'closed' : '\x1b[1mOPEN\x1b[0m'}  DUT ${o.dutPower ? '\x1b[33mON\x1b[0m' : 'off'}  last ${last}`];
  const status = `${lamp(o.green, 32, 'PASS')} ${lamp(o.red, 31, 'FAIL')} ${lamp(o.amber, 33, 'BUSY')} ${lamp(o.buzzer, 35, 'beep')}${v.note ? `  ${v.note}` : ''}`;
  const keys = `${v.keys.map(([k, label]) => `\x1b[1m${k}\x1b[0m ${label}`).join(' ')} \x1b[1mq\x1b[0m quit`;
  const room = TERMINAL_ROWS - head.length - oled.length - 2;
  const log = v.log.slice(-room).map((l) => `\x1b[90m${l}\x1b[0m`);
  return [...head, ...oled, status, keys, ...log].map((l) => fit(l));
}

/**
 * The virtual jig in a terminal: the OLED drawn live, the tower light and relay below it, keys
 * for the lid and the buttons. Redraws on every screen change (at most 20 times a second) and
 * fits an 80x24 terminal.
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
    const lines = terminalLines({
      oled: jig.oled(),
      state: station.state,
      lidClosed: jig.lidClosed,
      outputs: jig.outputs(),
      last,
      keys: Object.entries(keys).map(([k, [label]]) => [k, label]),
      log,
      ...(jig.note ? { note: jig.note } : {}),
    });
    output.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
  };
  const schedule = () => {
    pending ??= setTimeout(draw, 50);
  };

  const note = (m: string) => {
    log.push(`${new Date().toISOString().slice(11, 19)} ${m}`);
    if (log.length > 100) log.shift();
    schedule();
  };
  const offs = [
    ...(jig.onNote ? [jig.onNote(note)] : []),
    panel.on('screen', schedule),
    station.on('state', schedule),
    station.on('record', (r) => {
      last = r;
      schedule();
    }),
    ...(jig.onNote ? [] : [station.on('log', note)]),
  ];
  output.write('\x1b[2J');
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
