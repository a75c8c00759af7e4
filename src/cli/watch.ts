import type { Command } from 'commander';
import type { StatusSnapshot } from '../control/service.js';
import type { UnitSummary } from '../control/summary.js';
import { boxed } from '../control/oled-text.js';
import { eventLine } from './format.js';
import { withClient, type ControlCliIo } from './control-io.js';

export const WATCH_ROWS = 24;
export const WATCH_COLS = 80;

interface View {
  station: string;
  state: string;
  job: string;
  counts: { pass: number; fail: number; error: number };
  oled: string[];
  events: string[];
}

/** The whole watch screen: at most 24 rows of at most 80 columns (an SSH terminal's default). */
export function watchScreen(v: View): string[] {
  const cut = (s: string) => (s.length > WATCH_COLS ? `${s.slice(0, WATCH_COLS - 1)}…` : s);
  const head = `${v.station}  ${v.state.toUpperCase()}  ${v.job}  PASS ${v.counts.pass} FAIL ${v.counts.fail} ERR ${v.counts.error}`;
  const oled = v.oled.length ? boxed(v.oled) : ['(no screen yet)'];
  const room = WATCH_ROWS - 2 - oled.length;
  const events = v.events.slice(-room);
  return [cut(head), ...oled, ...events.map(cut), ...Array(Math.max(0, room - events.length)).fill(''), 'Ctrl-C leaves'].slice(0, WATCH_ROWS);
}

/** `pijig watch`: the live OLED in the terminal, and the events as they happen. */
export function registerWatch(program: Command, io: ControlCliIo): void {
  program
    .command('watch')
    .description('the live OLED (fits 80x24) and a stream of events: steps, measurements with their verdict, records. Ctrl-C leaves')
    .option('--json', 'the events as JSON lines instead', false)
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .action(async (o: { json: boolean; socket: string }) => {
      const tty = io.stdout.isTTY && !o.json;
      const view: View = { station: '', state: '', job: '', counts: { pass: 0, fail: 0, error: 0 }, oled: [], events: [] };
      let pending: ReturnType<typeof setTimeout> | undefined;
      const draw = () => {
        pending = undefined;
        io.stdout.write(`\x1b[H${watchScreen(view).map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
      };
      const schedule = () => {
        if (tty) pending ??= setTimeout(draw, 50);
      };
      const onEvent = (name: string, data: unknown) => {
        if (o.json) return io.out(JSON.stringify({ event: name, data }));
        if (name === 'status') {
          const s = data as StatusSnapshot;
          Object.assign(view, { station: s.station, state: s.state, job: s.job ? `${s.job.product} ${s.job.version ?? ''}`.trim() : '(no job)', counts: { ...s.counts }, oled: s.oled });
          if (!tty) io.out(`watching ${s.station} (${s.state}); Ctrl-C leaves`);
        } else if (name === 'screen') {
          view.oled = (data as { oled: string[] }).oled;
        } else if (name === 'state') {
          view.state = String((data as { to: string }).to);
        } else if (name === 'record') {
          const r = (data as UnitSummary).result;
          if (r === 'PASS') view.counts.pass++;
          else if (r === 'FAIL') view.counts.fail++;
          else if (r === 'ERROR') view.counts.error++;
        }
        const line = name === 'status' || name === 'screen' ? undefined : eventLine(name, data);
        if (line) {
          if (tty) view.events = [...view.events.slice(-50), line];
          else io.out(line);
        }
        schedule();
      };
      if (tty) io.stdout.write('\x1b[?1049h\x1b[?25l\x1b[2J'); // the alternate screen, cursor hidden
      let interrupted = false;
      try {
        await withClient(o.socket, 'read', (client) => {
          const off = io.onInterrupt(() => {
            interrupted = true;
            client.close();
          });
          return client.request('watch', {}, onEvent).finally(off);
        });
      } catch (err) {
        if (!interrupted) throw err;
      } finally {
        if (pending) clearTimeout(pending);
        if (tty) io.stdout.write('\x1b[?25h\x1b[?1049l'); // the terminal as it was
      }
    });
}
