/**
 * docs/report.png for the README: `pijig report` over a plausible production history
 * (test/fixtures/report-units.ts), opened in Debian's headless chromium.
 *
 *   npx tsx scripts/report-screenshot.ts [docs/report.png]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildReport } from '../src/control/report.js';
import { reportUnits } from '../test/fixtures/report-units.js';

const out = process.argv[2] ?? 'docs/report.png';
const dir = await mkdtemp(join(tmpdir(), 'pijig-report-shot-'));
const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1200, height: 1500 },
});
try {
  const file = join(dir, 'report.html');
  await writeFile(file, buildReport(reportUnits(400), { station: 'line1-jig01', orders: new Map([['1'.repeat(64), 250], ['2'.repeat(64), 500]]), now: new Date('2026-03-05T08:00:00Z') }));
  const page = await context.newPage();
  await page.goto(`file://${file}`);
  await page.screenshot({ path: out, fullPage: false });
  console.log(out);
} finally {
  await context.close();
  await rm(dir, { recursive: true, force: true });
}
