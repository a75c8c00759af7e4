import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { buildReport } from '../../src/control/report.js';
import { capability, reportStats } from '../../src/control/report-stats.js';
import { reportUnits } from '../fixtures/report-units.js';

/** Debian's chromium, headless, offline, with a throw-away profile. */
export async function launchChromium(profile: string) {
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1200, height: 900 },
  });
}

describe('the report numbers', () => {
  it('first-pass and final yield per board (label), retests, Paretos, Cp/Cpk', () => {
    const units = reportUnits(400);
    const s = reportStats(units, new Map([['1'.repeat(64), 250]]), { ['1'.repeat(64)]: 230 });
    const boards = new Set(units.filter((u) => u.result !== 'ABORTED').map((u) => u.label)).size;
    expect(s.yieldByImage.reduce((a, r) => a + r.boards, 0)).toBe(boards);
    for (const r of [...s.yieldByImage, ...s.yieldByDay]) expect(r.finalYield).toBeGreaterThanOrEqual(r.firstPassYield);
    expect(s.retests.length).toBeGreaterThan(0);
    expect(s.retests.every((r) => r.attempts > 1)).toBe(true);
    expect(s.reasons[0]!.count).toBeGreaterThanOrEqual(s.reasons.at(-1)!.count);
    expect(s.images.find((i) => i.version === '1.2.0')).toMatchObject({ flashes: 230, orderQuantity: 250 });
    const cur = s.measurements.find((m) => m.key === 'boot current / run_mean_ma')!;
    expect(cur.cp).toBeCloseTo((50 - 20) / (6 * cur.sd), 6);
    expect(capability([1, 2, 3], 0, 10)).toEqual({ mean: 2, sd: 1, cp: 10 / 6, cpk: 2 / 3 });
    expect(capability([5, 5], 0, 10)).toEqual({ mean: 5, sd: 0 });
    expect(capability([1, 2, 3], undefined, 5).cpk).toBeCloseTo(1, 6);
  });
});

describe('pijig report in a real browser', () => {
  it('opens offline in headless chromium with every plot drawn', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-report-'));
    const context = await launchChromium(join(dir, 'profile'));
    try {
      const html = buildReport(reportUnits(400), { station: 'line1-jig01', orders: new Map([['1'.repeat(64), 250]]) });
      expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
      const file = join(dir, 'report.html');
      await writeFile(file, html);
      const page = await context.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`);
      const charts = await page.$$eval('figure[data-chart]', (figs) =>
        figs.map((f) => {
          // the chart itself: the largest svg (a legend brings small swatch svgs along)
          const svg = [...f.querySelectorAll('svg')].sort((a, b) => b.getBoundingClientRect().width * b.getBoundingClientRect().height - a.getBoundingClientRect().width * a.getBoundingClientRect().height)[0];
          const box = svg?.getBoundingClientRect();
          return { id: f.getAttribute('data-chart'), width: box?.width ?? 0, height: box?.height ?? 0, marks: svg ? svg.querySelectorAll('rect, path, line').length : 0 };
        }),
      );
      const ids = charts.map((c) => c.id);
      expect(ids).toEqual(expect.arrayContaining(['yield-image', 'yield-day', 'pareto-reasons', 'pareto-steps', 'units-per-hour', 'flashes', 'hist-0']));
      expect(ids.filter((i) => i?.startsWith('hist-')).length).toBe(reportStats(reportUnits(400)).measurements.filter((m) => new Set(m.values).size > 1).length);
      for (const c of charts) {
        expect(c.width, c.id!).toBeGreaterThan(200);
        expect(c.height, c.id!).toBeGreaterThan(100);
        expect(c.marks, c.id!).toBeGreaterThan(5);
      }
      // bars of the histogram really are drawn: positive-height rects inside the plot
      const bars = await page.$$eval('figure[data-chart="hist-0"] svg rect', (rects) => rects.filter((r) => r.getBoundingClientRect().height > 1).length);
      expect(bars).toBeGreaterThan(5);
      expect(requests.every((u) => u.startsWith('file://'))).toBe(true);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: false });
    } finally {
      await context.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('pijig report (the command)', () => {
  it('reads the data directory\'s journal, writes one HTML file and says how many units', async () => {
    const { cli } = await import('../helpers/cli-harness.js');
    const dir = await mkdtemp(join(tmpdir(), 'pijig-report-cli-'));
    try {
      const units = reportUnits(60);
      await writeFile(join(dir, 'units.jsonl'), units.map((u) => `${JSON.stringify(u)}\n`).join(''));
      const r = cli('/nonexistent.sock');
      await r.run('report', '--data-dir', dir, '--out', join(dir, 'report.html'), '--since', units[30]!.startedAt);
      expect(r.out).toEqual([expect.stringMatching(new RegExp(`^30 units -> ${join(dir, 'report.html')} \\(\\d+ KiB\\)$`))]);
      const { readFile } = await import('node:fs/promises');
      const html = await readFile(join(dir, 'report.html'), 'utf8');
      expect(html).toMatch(/^<!doctype html>/);
      expect(html).toContain('30 units since');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
