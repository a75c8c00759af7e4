import * as Plot from '@observablehq/plot';
import { parseHTML } from 'linkedom';
import type { UnitRecord } from '../core/record.js';
import { reportStats, type ReportStats, type YieldRow } from './report-stats.js';

/**
 * `pijig report`: one self-contained HTML file that opens offline - every chart an inline SVG
 * drawn here by Observable Plot on a server-side DOM (linkedom), no script, no network: yields
 * per image and per day, Paretos of reason codes and failing steps, a histogram of every numeric
 * measurement with its limits and Cp/Cpk, units per hour, retests, flashes against the order.
 */
export interface ReportOptions {
  station: string;
  /** Order quantity per image hash (from the bundles still in the store). */
  orders?: ReadonlyMap<string, number>;
  /** Flashes per image hash (the station's counters). */
  flashes?: Readonly<Record<string, number>>;
  since?: string;
  now?: Date;
  /** At most this many measurement histograms (default 60). */
  maxHistograms?: number;
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (v: number | undefined, d = 2) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

export function buildReport(records: readonly UnitRecord[], opts: ReportOptions): string {
  const stats = reportStats(records, opts.orders, opts.flashes);
  const { document } = parseHTML('<!doctype html><html><body></body></html>');
  const svg = (options: Plot.PlotOptions): string => (Plot.plot({ ...options, document: document as unknown as Document, style: { background: 'white', fontSize: '11px' } }) as unknown as { outerHTML: string }).outerHTML;
  const figure = (id: string, title: string, body: string, note = '') => `<figure class="chart" data-chart="${esc(id)}"><figcaption>${esc(title)}</figcaption>${body}${note ? `<p class="note">${note}</p>` : ''}</figure>`;
  const sections: string[] = [];

  sections.push(`<section><h2>Summary</h2><table><tr><th>units</th><td>${stats.units}</td><th>judged</th><td>${stats.judged}</td><th>aborted</th><td>${stats.aborted}</td></tr><tr><th>from</th><td colspan="2">${esc(stats.from ?? '-')}</td><th>to</th><td colspan="2">${esc(stats.to ?? '-')}</td></tr></table></section>`);

  const yieldChart = (rows: YieldRow[], id: string, title: string, label: string) => {
    if (!rows.length) return figure(id, title, '<p class="empty">no judged units</p>');
    const data = rows.flatMap((r) => [
      { group: r.group, kind: 'first pass', yield: r.firstPassYield },
      { group: r.group, kind: 'final', yield: r.finalYield },
    ]);
    const chart = svg({
      width: 520,
      height: 240,
      marginBottom: 40,
      x: { axis: null, domain: ['first pass', 'final'] },
      y: { label: 'yield %', domain: [0, 100], grid: true },
      color: { legend: true, domain: ['first pass', 'final'], range: ['#4c78a8', '#59a14f'] },
      fx: { label },
      marks: [Plot.barY(data, { fx: 'group', x: 'kind', y: 'yield', fill: 'kind', title: (d: { kind: string; yield: number }) => `${d.kind}: ${d.yield}%` }), Plot.ruleY([0])],
    });
    const table = `<table><tr><th>${esc(label)}</th><th>boards</th><th>first pass</th><th>final</th></tr>${rows.map((r) => `<tr><td>${esc(r.group)}</td><td>${r.boards}</td><td>${r.firstPassYield}% (${r.firstPass})</td><td>${r.finalYield}% (${r.final})</td></tr>`).join('')}</table>`;
    return figure(id, title, chart + table);
  };
  sections.push(`<section class="pair"><h2>Yield</h2>${yieldChart(stats.yieldByImage, 'yield-image', 'First-pass and final yield per image', 'image')}${yieldChart(stats.yieldByDay, 'yield-day', 'First-pass and final yield per day', 'day')}</section>`);

  const pareto = (rows: { name: string; count: number }[], id: string, title: string) => {
    if (!rows.length) return figure(id, title, '<p class="empty">no failures</p>');
    const total = rows.reduce((a, r) => a + r.count, 0);
    let run = 0;
    const data = rows.map((r) => ({ ...r, cumulative: Math.round((1000 * (run += r.count)) / total) / 10 }));
    const top = rows[0]!.count;
    return figure(
      id,
      title,
      svg({
        width: 520,
        height: 280,
        marginBottom: 90,
        marginLeft: 70,
        marginRight: 30,
        x: { label: null, domain: data.map((d) => d.name), tickRotate: -35 },
        y: { label: 'units', grid: true },
        marks: [
          Plot.barY(data, { x: 'name', y: 'count', fill: '#e15759', title: (d: { name: string; count: number }) => `${d.name}: ${d.count}` }),
          Plot.lineY(data, { x: 'name', y: (d: { cumulative: number }) => (d.cumulative / 100) * top, stroke: '#333', marker: 'circle' }),
          Plot.text(data, { x: 'name', y: (d: { cumulative: number }) => (d.cumulative / 100) * top, text: (d: { cumulative: number }) => `${d.cumulative}%`, dy: -8 }),
          Plot.ruleY([0]),
        ],
      }),
      'bars: units; line: cumulative share of failures',
    );
  };
  sections.push(`<section class="pair"><h2>Failures</h2>${pareto(stats.reasons, 'pareto-reasons', 'Pareto of reason codes')}${pareto(stats.failingSteps, 'pareto-steps', 'Pareto of failing steps')}</section>`);

  // A value that never varies (bytes written) has no distribution to draw: it is listed instead.
  const constant = stats.measurements.filter((m) => m.n > 0 && m.values.every((v) => v === m.values[0]));
  const varying = stats.measurements.filter((m) => !constant.includes(m));
  const hist = varying.slice(0, opts.maxHistograms ?? 60).map((m, i) => {
    const limits = [m.min, m.max].filter((v): v is number => v !== undefined);
    const values = m.values.map((v) => ({ v }));
    const lo = Math.min(...m.values, ...limits);
    const hi = Math.max(...m.values, ...limits);
    const pad = (hi - lo) * 0.05 || 1;
    const chart = svg({
      width: 350,
      height: 190,
      x: { label: `${m.key}${m.unit ? ` (${m.unit})` : ''}`, domain: [lo - pad, hi + pad] },
      y: { label: 'units', grid: true },
      marks: [
        Plot.rectY(values, { ...Plot.binX({ y: 'count' }, { x: 'v', thresholds: 20 }), fill: '#4c78a8' }),
        Plot.ruleX(limits, { stroke: '#e15759', strokeWidth: 2 }),
        Plot.ruleX([m.mean], { stroke: '#333', strokeDasharray: '4,3' }),
        Plot.ruleY([0]),
      ],
    });
    const note = `n ${m.n} · mean ${num(m.mean, 3)} · sd ${num(m.sd, 3)} · limits ${m.min ?? '-'}..${m.max ?? '-'} · Cp ${num(m.cp)} · Cpk ${num(m.cpk)}${m.failed ? ` · ${m.failed} out of limits` : ''}`;
    return figure(`hist-${i}`, m.key, chart, esc(note));
  });
  const more =
    (varying.length > hist.length ? `<p class="note">${varying.length - hist.length} more measurements not drawn</p>` : '') +
    (constant.length ? `<p class="note">constant: ${constant.map((m) => `${esc(m.key)} = ${m.values[0]}${m.unit ? ` ${esc(m.unit)}` : ''} (n ${m.n})`).join('; ')}</p>` : '');
  sections.push(`<section><h2>Measurements</h2><p class="note">red: limits; dashed: mean. Cp = (max - min) / 6σ, Cpk = min(max - mean, mean - min) / 3σ (one-sided with one limit).</p><div class="grid">${hist.join('') || '<p class="empty">no numeric measurements</p>'}</div>${more}</section>`);

  const perHour = stats.perHour.map((h) => ({ hour: new Date(`${h.hour}:00Z`), units: h.units }));
  sections.push(
    `<section><h2>Throughput</h2>${figure(
      'units-per-hour',
      'Units per hour',
      perHour.length
        ? svg({ width: 720, height: 220, x: { label: 'hour (UTC)', type: 'utc' }, y: { label: 'units', grid: true }, marks: [Plot.rectY(perHour, { x1: 'hour', x2: (d: { hour: Date }) => new Date(d.hour.getTime() + 3_600_000), y: 'units', fill: '#76b7b2', inset: 0.5 }), Plot.ruleY([0])] })
        : '<p class="empty">no units</p>',
    )}</section>`,
  );

  const retests = stats.retests.length
    ? `<table><tr><th>board</th><th>attempts</th><th>results</th></tr>${stats.retests.slice(0, 200).map((r) => `<tr><td>${esc(r.board)}</td><td>${r.attempts}</td><td>${esc(r.results.join(' → '))}</td></tr>`).join('')}</table>`
    : '<p class="empty">no board was tested more than once (boards are told apart by chip UID, label or serial)</p>';
  sections.push(`<section><h2>Retests</h2><p>${stats.retests.length} boards tested more than once.</p>${retests}</section>`);

  const images = stats.images;
  const flashChart = images.length
    ? svg({
        width: 720,
        height: 60 + 40 * images.length,
        marginLeft: 120,
        x: { label: 'flashes', grid: true },
        y: { label: null },
        marks: [
          Plot.barX(images, { y: 'version', x: 'flashes', fill: '#f28e2b' }),
          Plot.tickX(images.filter((i) => i.orderQuantity !== undefined), { y: 'version', x: 'orderQuantity', stroke: '#333', strokeWidth: 3 }),
          Plot.ruleX([0]),
        ],
      })
    : '<p class="empty">no image was flashed</p>';
  const flashTable = `<table><tr><th>image</th><th>hash</th><th>units</th><th>flashes</th><th>order</th></tr>${images.map((i) => `<tr><td>${esc(i.version)}</td><td><code>${esc(i.imageHash.slice(0, 12))}</code></td><td>${i.units}</td><td>${i.flashes}</td><td>${i.orderQuantity ?? '-'}</td></tr>`).join('')}</table>`;
  sections.push(`<section><h2>Flashes against the order</h2>${figure('flashes', 'Flashes per image (the black tick: the order quantity)', flashChart + flashTable)}</section>`);

  return page(opts, stats, sections);
}

function page(opts: ReportOptions, stats: ReportStats, sections: string[]): string {
  const when = (opts.now ?? new Date()).toISOString();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pijig report ${esc(opts.station)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1140px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}th{background:#f5f5f5}
figure.chart{margin:12px 0;display:inline-block;vertical-align:top}figcaption{font-weight:600;margin-bottom:4px}
.grid{display:flex;flex-wrap:wrap;gap:8px}.pair figure.chart{width:530px;margin-right:12px}.grid figure{width:360px}.note{color:#666;font-size:12px;margin:2px 0}.empty{color:#888}
</style></head><body>
<h1>pijig report: ${esc(opts.station)}</h1>
<p class="note">${stats.units} units${opts.since ? ` since ${esc(opts.since)}` : ''}; made ${esc(when)} by pijig report. Self-contained: no script, no network.</p>
${sections.join('\n')}
</body></html>
`;
}
