import { z } from 'zod';
import { limitSchema } from '../core/limit.js';
import { REASONS, type ReasonCode } from '../core/reasons.js';
import type { StepRecord, UnitRecord } from '../core/record.js';

/**
 * What pijig publishes on an MQTT broker (docs/mqtt.md): the topics and the payload of each, as
 * zod schemas. docs/mqtt/*.schema.json are generated from these (`npx tsx scripts/mqtt-schemas.ts`;
 * a test fails when they are stale). Consumers ignore fields they do not know: fields are added,
 * never renamed or removed.
 */
export function mqttTopics(prefix: string, station: string): { units: string; status: string; events: string } {
  const base = `${prefix}/${station}`;
  return { units: `${base}/units`, status: `${base}/status`, events: `${base}/events` };
}

const iso = z.string().describe('ISO 8601 time, UTC');
const reason = z.enum(Object.keys(REASONS) as [ReasonCode, ...ReasonCode[]]).describe('reason code (src/core/reasons.ts): its verdict is FAIL, ERROR or ABORTED');
const result = z.enum(['PASS', 'FAIL', 'ERROR', 'ABORTED']);
const stationState = z.enum(['idle', 'ready', 'running', 'pass', 'fail', 'unit_error', 'aborted', 'error']);

const measurement = z.object({
  name: z.string(),
  value: z.union([z.number(), z.string(), z.boolean()]),
  unit: z.string().optional(),
  limit: limitSchema.optional(),
  verdict: z.enum(['pass', 'fail', 'info']),
});

export const stepRecordSchema = z.object({
  name: z.string(),
  kind: z.string(),
  outcome: z.enum(['pass', 'fail', 'error', 'aborted', 'skipped']),
  startedAt: iso,
  durationMs: z.number(),
  reason: reason.optional(),
  message: z.string().optional(),
  measurements: z.array(measurement),
  data: z.record(z.string(), z.unknown()).optional().describe('what the step kept (a console transcript, openocd phase times)'),
});

/** `<prefix>/<station>/units`, QoS 1, not retained: the unit record exactly as journaled (one line of units.jsonl). */
export const unitMessageSchema = z
  .object({
    seq: z.int().min(1).describe("position in this station's journal: per station, records are published in seq order"),
    prev: z.string().optional().describe('sha256 of the journal line before this one: the hash chain (docs/ledger.md)'),
    id: z.string().describe('unique id of the record: delivery is at least once, drop a message whose id you already hold'),
    station: z.string(),
    plan: z.object({ name: z.string(), product: z.string(), measurements: z.array(z.string()).optional().describe('what the plan declares limits for') }),
    image: z.object({ bundleId: z.string(), version: z.string(), imageHash: z.string(), regions: z.record(z.string(), z.string()) }).optional(),
    order: z.string().optional().describe("the bundle's order id"),
    serial: z.string().optional(),
    mac: z.string().optional(),
    chipUid: z.string().optional().describe("the chip's unique ID (24 hex digits): links every run of one board"),
    attempt: z.int().optional().describe('which run of this board on this station (1 = first)'),
    flashes: z.int().optional().describe('flashes of the image counted in the ledger during this cycle'),
    label: z.string().optional().describe('the board label a barcode scanner read before START'),
    clockSynced: z.boolean().optional().describe('whether the clock was synchronised (NTP) when the record was made; absent: unknown'),
    startedAt: iso,
    endedAt: iso,
    durationMs: z.number(),
    result,
    failedStep: z.string().optional(),
    reason: reason.optional(),
    message: z.string().optional(),
    steps: z.array(stepRecordSchema),
    repair: z
      .object({ at: iso, found: z.string(), replaces: z.string().optional(), text: z.string().optional(), copy: z.string() })
      .optional()
      .describe('a record written by `pijig journal repair` in place of a damaged line (reason RECORD_LOST)'),
  })
  .describe('one unit record, published QoS 1 to <prefix>/<station>/units');

const unitSummary = z.object({
  seq: z.int().min(1),
  id: z.string(),
  serial: z.string().optional(),
  mac: z.string().optional(),
  result,
  failedStep: z.string().optional(),
  reason: reason.optional(),
  endedAt: iso,
  durationMs: z.number(),
});

const onlineStatusSchema = z.object({
  station: z.string(),
  online: z.literal(true),
  at: iso.describe('when this status was published'),
  state: stationState,
  job: z
    .object({
      plan: z.string(),
      product: z.string(),
      version: z.string().optional(),
      bundleId: z.string().optional(),
      imageHash: z.string().optional(),
      orderQuantity: z.int().optional().describe('units the order allows with this image'),
      flashed: z.int().optional().describe('units flashed with this image: order progress is flashed / orderQuantity'),
    })
    .optional()
    .describe('absent while the station has no plan'),
  counts: z.object({ pass: z.int(), fail: z.int(), error: z.int() }).describe('results with the active image (every unit when no image is active)'),
  faults: z.array(z.object({ source: z.string(), title: z.string(), lines: z.array(z.string()) })).describe('station faults (DEVICE MISSING, NO TEST PLAN): no unit runs while one is active'),
  cycle: z
    .object({ step: z.string(), index: z.int().describe('0-based, among steps and teardown'), count: z.int(), startedAt: iso })
    .optional()
    .describe('the unit running now'),
  last: unitSummary.optional().describe('the last unit since the service started'),
  lidClosed: z.boolean(),
  dutPowered: z.boolean(),
});

const offlineStatusSchema = z.object({
  station: z.string(),
  online: z.literal(false),
  reason: z.enum(['stopped', 'connection lost']).describe('stopped: the service shut down; connection lost: the last will, published by the broker'),
  at: iso.optional().describe('when the service stopped (absent in the last will)'),
});

/** `<prefix>/<station>/status`, QoS 1, retained: published on change (rate-limited) and on every connect; the last will says offline. */
export const statusMessageSchema = z.discriminatedUnion('online', [onlineStatusSchema, offlineStatusSchema]).describe('station status, retained on <prefix>/<station>/status');

/** `<prefix>/<station>/events`, QoS 0, not retained: what the running unit does, as it happens. Lost while the broker is away. */
export const eventMessageSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('progress'),
      station: z.string(),
      at: iso,
      step: z.string(),
      index: z.int(),
      count: z.int(),
      fraction: z.number().min(0).max(1).describe('0..1 within the running step'),
      text: z.string().optional(),
      cycleStartedAt: iso,
    }),
    z.object({ type: z.literal('step'), station: z.string(), at: iso, step: stepRecordSchema }),
    z.object({ type: z.literal('record'), station: z.string(), at: iso, unit: unitSummary }),
  ])
  .describe('step events of the running unit on <prefix>/<station>/events');

export type UnitMessage = z.input<typeof unitMessageSchema>;
export type StatusMessage = z.input<typeof statusMessageSchema>;
export type EventMessage = z.input<typeof eventMessageSchema>;

// The unit message is the record: every field of a record is described here, and fits.
type Undescribed = Exclude<keyof UnitRecord, keyof UnitMessage> | Exclude<keyof StepRecord, keyof z.input<typeof stepRecordSchema>>;
const everyRecordFieldDescribed: [Undescribed] extends [never] ? true : { describeInUnitMessageSchema: Undescribed } = true;
const recordFits: UnitMessage = {} as UnitRecord;
void everyRecordFieldDescribed;
void recordFits;

/** What the MQTT output reads of the station: `Station.status()` fits it (outputs/ does not import station/). */
export interface StationSnapshot {
  state: z.infer<typeof stationState>;
  job?: { plan: string; product: string; version?: string; bundleId?: string; imageHash?: string; orderQuantity?: number; flashed?: number | undefined };
  counts: { pass: number; fail: number; error: number };
  faults: readonly { source: string; title: string; lines: readonly string[] }[];
  cycle?: CycleSnapshot;
  last?: UnitRecord;
  lidClosed: boolean;
  dutPowered: boolean;
}

export interface CycleSnapshot {
  index: number;
  count: number;
  step: string;
  fraction: number;
  text?: string;
  startedAt: Date;
}

export function unitSummaryOf(r: UnitRecord): z.input<typeof unitSummary> {
  return {
    seq: r.seq,
    id: r.id,
    ...(r.serial !== undefined ? { serial: r.serial } : {}),
    ...(r.mac !== undefined ? { mac: r.mac } : {}),
    result: r.result,
    ...(r.failedStep !== undefined ? { failedStep: r.failedStep } : {}),
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    endedAt: r.endedAt,
    durationMs: r.durationMs,
  };
}

/** The retained online status, without its time (`at` is added when it is published). */
export function statusOf(station: string, s: StationSnapshot): Omit<Extract<StatusMessage, { online: true }>, 'at'> {
  const job = s.job && Object.fromEntries(Object.entries(s.job).filter(([, v]) => v !== undefined));
  return {
    station,
    online: true,
    state: s.state,
    ...(job ? { job: job as NonNullable<StationSnapshot['job']> } : {}),
    counts: { pass: s.counts.pass, fail: s.counts.fail, error: s.counts.error },
    faults: s.faults.map((f) => ({ source: f.source, title: f.title, lines: [...f.lines] })),
    ...(s.cycle ? { cycle: { step: s.cycle.step, index: s.cycle.index, count: s.cycle.count, startedAt: s.cycle.startedAt.toISOString() } } : {}),
    ...(s.last ? { last: unitSummaryOf(s.last) } : {}),
    lidClosed: s.lidClosed,
    dutPowered: s.dutPowered,
  };
}

export function offlineStatus(station: string, reason: 'stopped' | 'connection lost', at?: Date): StatusMessage {
  return { station, online: false, reason, ...(at ? { at: at.toISOString() } : {}) };
}

export function progressEvent(station: string, p: CycleSnapshot, at: Date): EventMessage {
  return {
    type: 'progress',
    station,
    at: at.toISOString(),
    step: p.step,
    index: p.index,
    count: p.count,
    fraction: Math.min(1, Math.max(0, p.fraction)),
    ...(p.text !== undefined ? { text: p.text } : {}),
    cycleStartedAt: p.startedAt.toISOString(),
  };
}

export function stepEvent(station: string, step: StepRecord, at: Date): EventMessage {
  return { type: 'step', station, at: at.toISOString(), step };
}

export function recordEvent(station: string, r: UnitRecord, at: Date): EventMessage {
  return { type: 'record', station, at: at.toISOString(), unit: unitSummaryOf(r) };
}

/** JSON Schemas of the three payloads, for docs/mqtt/ (generated, never written by hand). */
export function mqttJsonSchemas(): Record<'units' | 'status' | 'events', unknown> {
  const opts = { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' } as const;
  return {
    units: { title: 'pijig unit record (topic <prefix>/<station>/units)', ...z.toJSONSchema(unitMessageSchema, opts) },
    status: { title: 'pijig station status (topic <prefix>/<station>/status, retained)', ...z.toJSONSchema(statusMessageSchema, opts) },
    events: { title: 'pijig step events (topic <prefix>/<station>/events)', ...z.toJSONSchema(eventMessageSchema, opts) },
  };
}
