import type { Command } from 'commander';
import type { UnitRecord } from '../core/record.js';
import type { CycleProgress } from '../station/station.js';
import { parseParam } from './io.js';
import { stepLine } from './format.js';
import { json, withClient, type ControlCliIo } from './control-io.js';

/** `pijig run-step NAME`: one plan step on the DUT in the fixture, as an engineering run. */
export function registerRunStep(program: Command, io: ControlCliIo): void {
  program
    .command('run-step <step>')
    .description('run one plan step (by name or kind) on the unit in the fixture: only while idle with the lid closed; recorded in engineering.jsonl, never counted as a unit')
    .option('--param <name=value>', "override a step param (repeat for more; JSON values: --param erase='\"mass\"' or --param skip_when_identical=true)", (v, prev: Record<string, unknown>) => parseParam(v, prev), {})
    .option('--allocate-identity', 'let an identity step allocate a serial number and MAC (default: refused)', false)
    .option('--json', 'print the engineering record as JSON', false)
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .action(async (step: string, o: { param: Record<string, unknown>; allocateIdentity: boolean; json: boolean; socket: string }) => {
      const tty = io.stdout.isTTY && !o.json;
      let lastShown = '';
      const show = (p: CycleProgress) => {
        const pct = Math.floor(p.fraction * 100);
        const text = `${p.step} ${String(pct).padStart(3)}%${p.text ? ` ${p.text}` : ''}`;
        if (tty) io.stdout.write(`\r${text.slice(0, 79)}\x1b[K`);
        else if (text.replace(/\d+%/, `${Math.floor(pct / 10) * 10}%`) !== lastShown) {
          lastShown = text.replace(/\d+%/, `${Math.floor(pct / 10) * 10}%`);
          io.err(text);
        }
      };
      const record = await withClient(o.socket, 'act', (client) => {
        const off = io.onInterrupt(() => client.close()); // the station stops the run when the connection goes
        return client
          .request<UnitRecord>('run-step', { step, ...(Object.keys(o.param).length ? { params: o.param } : {}), ...(o.allocateIdentity ? { allocateIdentity: true } : {}) }, (name, data) => {
            if (name === 'progress') show(data as CycleProgress);
            else if (name === 'step' && tty) io.stdout.write('\r\x1b[K');
          })
          .finally(off);
      });
      if (o.json) io.out(json(record));
      else {
        for (const s of record.steps) io.out(stepLine(s));
        io.out(`engineering run #${record.seq}: ${record.result}${record.reason ? ` ${record.reason}${record.message ? ` (${record.message})` : ''}` : ''} in ${(record.durationMs / 1000).toFixed(1)} s; recorded in engineering.jsonl, not counted as a unit`);
      }
      if (record.result !== 'PASS') io.setExitCode(1);
    });
}
