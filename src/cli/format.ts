import type { JudgedMeasurement, StepRecord, UnitRecord } from '../core/record.js';
import type { StatusSnapshot } from '../control/service.js';
import type { UnitSummary } from '../control/summary.js';
import type { CheckResult } from '../control/selftest.js';
import { boxed } from '../control/oled-text.js';

/** Text for people: what `status`, `watch`, `history`, `unit`, `run-step` and `selftest` print without --json. */

const time = (iso: string | undefined) => (iso ? iso.replace('T', ' ').slice(0, 19) : '-');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function uptime(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s % 60).padStart(2, '0')}s`;
}

export function unitLine(u: UnitSummary): string {
  const who = u.serial ?? u.uid ?? u.label ?? '-';
  const why = u.reason ? ` ${u.failedStep ?? ''}: ${u.reason}` : '';
  return `#${String(u.seq).padEnd(6)} ${time(u.startedAt)}  ${who.padEnd(12)} ${u.result.padEnd(7)} ${secs(u.durationMs).padStart(7)}  ${u.version ?? '-'}${why}`;
}

export function measurementText(m: JudgedMeasurement): string {
  const l = m.limit;
  const limit = !l ? '' : l.equals !== undefined ? ` [= ${String(l.equals)}]` : ` [${l.min ?? ''}..${l.max ?? ''}]`;
  return `${m.name}=${typeof m.value === 'number' ? Number(m.value.toFixed(4)) : String(m.value)}${m.unit ? ` ${m.unit}` : ''}${limit}${m.verdict === 'info' ? '' : ` ${m.verdict}`}`;
}

export function stepLine(s: StepRecord): string {
  const head = `${s.name} ${s.outcome.toUpperCase()} ${secs(s.durationMs)}${s.reason ? ` ${s.reason}${s.message ? `: ${s.message}` : ''}` : ''}`;
  const ms = s.measurements.map(measurementText);
  return ms.length ? `${head}  ${ms.join('  ')}` : head;
}

export function statusLines(s: StatusSnapshot): string[] {
  const job = s.job;
  const lines = [
    `${s.station}  ${s.state.toUpperCase()}${job ? `  ${job.product} ${job.version ?? '(no image)'}${job.bundleId ? ` (bundle ${job.bundleId.slice(0, 12)})` : ''}` : '  (no job)'}  pijig ${s.version}  up ${uptime(s.uptimeS)}`,
  ];
  if (job) lines.push(`plan     ${job.plan}`);
  if (s.order) lines.push(`order    ${s.order.flashed} of ${s.order.quantity} flashed (${s.order.remaining} left)`);
  lines.push(`counts   PASS ${s.counts.pass}  FAIL ${s.counts.fail}  ERROR ${s.counts.error}`);
  if (s.cycle) lines.push(`running  step ${s.cycle.index + 1}/${s.cycle.count} ${s.cycle.step} ${Math.round(s.cycle.fraction * 100)}%${s.cycle.text ? ` ${s.cycle.text}` : ''}  ${secs(s.cycle.elapsedMs)}`);
  if (s.engineering) lines.push(`engineering run of ${s.engineering.step} since ${time(s.engineering.startedAt)}`);
  lines.push(`last     ${s.last ? unitLine(s.last) : '-'}`);
  lines.push(`fixture  lid ${s.lidClosed ? 'closed' : 'OPEN'}, DUT ${s.dutPowered ? 'POWERED' : 'off'}${s.scan.required || s.scan.label ? `, label ${s.scan.label ?? '(scan required)'}` : ''}`);
  lines.push(`clock    ${s.clock.synchronized === true ? 'synchronised' : s.clock.synchronized === false ? 'NOT synchronised' : 'unknown'} (${s.clock.source})`);
  lines.push(`devices  ${s.devices.length ? s.devices.map((d) => `${d.name} ${d.ok ? 'ok' : 'MISSING'}`).join(', ') : '-'}`);
  if (s.scanner) lines.push(`scanner  ${s.scanner.description} ${s.scanner.ok ? 'ok' : `FAILED ${s.scanner.detail ?? ''}`}`);
  lines.push(`outputs  ${s.outputs.length ? s.outputs.map((o) => `${o.name}: ${o.pending} pending${o.failures ? `, ${o.failures} failures (${o.lastError})` : ''}`).join('; ') : '-'}`);
  if (s.mqtt) lines.push(`mqtt     ${s.mqtt.connected ? 'connected' : 'NOT connected'}, ${s.mqtt.backlog} records waiting${s.mqtt.failures ? `, ${s.mqtt.failures} failures` : ''}`);
  lines.push(`faults   ${s.faults.length ? s.faults.map((f) => `${f.title}${f.lines.length ? ` (${f.lines.join('; ')})` : ''}`).join('; ') : '-'}`);
  if (s.oled.length) lines.push(...boxed(s.oled));
  return lines;
}

export function unitBlock(r: UnitRecord): string[] {
  const uid = (r as { chipUid?: string }).chipUid;
  const lines = [
    `unit #${r.seq}  ${r.result}${r.reason ? ` ${r.failedStep}: ${r.reason}${r.message ? ` (${r.message})` : ''}` : ''}`,
    `  serial ${r.serial ?? '-'}  mac ${r.mac ?? '-'}${uid ? `  uid ${uid}` : ''}${r.label ? `  label ${r.label}` : ''}`,
    `  ${time(r.startedAt)} .. ${time(r.endedAt)} (${secs(r.durationMs)})  station ${r.station}  clock ${r.clockSynced === undefined ? 'unknown' : r.clockSynced ? 'synchronised' : 'NOT synchronised'}`,
    `  image ${r.image ? `${r.image.version} ${r.image.imageHash.slice(0, 12)} (bundle ${r.image.bundleId.slice(0, 12)})` : '-'}  plan ${r.plan.name}`,
  ];
  for (const s of r.steps) lines.push(`    ${stepLine(s)}`);
  return lines;
}

export function checkLine(c: CheckResult): string {
  return `${c.skipped ? 'SKIP' : c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(28)} ${c.detail}`;
}

/** One watch event as a log line (the OLED itself is drawn apart). */
export function eventLine(name: string, data: unknown, at: Date = new Date()): string | undefined {
  const t = at.toTimeString().slice(0, 8);
  const d = data as Record<string, unknown>;
  switch (name) {
    case 'state':
      return `${t} state ${String(d['from'])} -> ${String(d['to'])} (${String(d['event'])})`;
    case 'started':
      return `${t} step  ${Number(d['index']) + 1}/${String(d['count'])} ${String(d['step'])} started`;
    case 'step':
      return `${t} step  ${stepLine(data as StepRecord)}`;
    case 'record':
      return `${t} unit  ${unitLine(data as UnitSummary)}`;
    case 'fault':
      return `${t} FAULT ${String(d['title'])}: ${(d['lines'] as string[]).join('; ')}`;
    case 'refused':
      return `${t} START refused: ${String(d['reason'])}${d['what'] ? ` (${String(d['what'])})` : ''}`;
    case 'scanned':
      return `${t} scanned ${String(d['label'])}`;
    case 'engineering':
      return `${t} engineering run of ${String(d['step'])} ${String(d['phase'])}${d['record'] ? `: ${(d['record'] as UnitSummary).result}` : ''}`;
    case 'log':
      return `${t} · ${String(d['message'])}`;
    case 'progress':
      return `${t} ${String(d['step'])} ${Math.round(Number(d['fraction']) * 100)}%${d['text'] ? ` ${String(d['text'])}` : ''}`;
    default:
      return undefined;
  }
}
