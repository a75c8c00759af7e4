import { formatFigure, type BenchFigure } from './bench.js';

/** `npm run bench`: every area's figures, printed with how each was measured. */
const AREAS: [string, () => Promise<{ run(): Promise<BenchFigure[]> }>][] = [
  ['station', () => import('./station.js')],
  ['oled', () => import('./display.js')],
  ['power monitor', () => import('./power.js')],
  ['probe (real openocd vs the simulated STM32)', () => import('./probe.js')],
  ['usb log sync', () => import('./media.js')],
  ['history', () => import('./history.js')],
  ['plan regexes (worker thread)', () => import('./regex.js')],
  ['mqtt (local mosquitto)', () => import('./mqtt.js')],
];

const only = process.argv.slice(2);
let failed = 0;
for (const [area, load] of AREAS) {
  if (only.length && !only.some((o) => area.startsWith(o))) continue;
  process.stdout.write(`\n## ${area}\n`);
  try {
    for (const f of await (await load()).run()) process.stdout.write(`${formatFigure(f)}\n`);
  } catch (err) {
    failed++;
    process.stdout.write(`  failed: ${(err as Error).message}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
