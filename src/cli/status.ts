import type { Command } from 'commander';
import type { StatusSnapshot } from '../control/service.js';
import { statusLines } from './format.js';
import { json, withClient, type ControlCliIo } from './control-io.js';

/** `pijig status`: the running station at a glance (over the control socket). */
export function registerStatus(program: Command, io: ControlCliIo): void {
  program
    .command('status')
    .description('the station now: state, what the OLED shows, bundle, order, counts, last unit, devices, clock, outputs, uptime')
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .option('--json', 'as JSON', false)
    .action(async (o: { socket: string; json: boolean }) => {
      const s = await withClient(o.socket, 'read', (c) => c.request<StatusSnapshot>('status'));
      if (o.json) io.out(json(s));
      else for (const line of statusLines(s)) io.out(line);
    });
}
