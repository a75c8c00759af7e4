import { describe, it, expect } from 'vitest';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { eventMessageSchema, mqttJsonSchemas, mqttTopics, progressEvent, recordEvent, statusMessageSchema, statusOf, unitMessageSchema } from '../../src/outputs/mqtt-messages.js';
import { unit } from '../media/helpers.js';

describe('what pijig publishes on MQTT', () => {
  it('the committed docs/mqtt/*.schema.json are what the zod schemas generate (run `npx tsx scripts/mqtt-schemas.ts`)', async () => {
    for (const [name, schema] of Object.entries(mqttJsonSchemas())) {
      const committed = JSON.parse(await readFile(fileURLToPath(new URL(`../../docs/mqtt/${name}.schema.json`, import.meta.url)), 'utf8'));
      expect(committed, `docs/mqtt/${name}.schema.json is stale`).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });

  it('topics are <prefix>/<station>/units|status|events', () => {
    expect(mqttTopics('factory/line1', 'jig-07')).toEqual({ units: 'factory/line1/jig-07/units', status: 'factory/line1/jig-07/status', events: 'factory/line1/jig-07/events' });
  });

  it('a unit message is the journal record, unchanged; status and events carry a summary of it', () => {
    const record = { seq: 5, ...unit(5) };
    expect(unitMessageSchema.parse(JSON.parse(JSON.stringify(record)))).toEqual(record);
    const at = new Date('2025-03-01T08:00:20Z');
    const status = statusOf('st-01', {
      state: 'fail',
      job: { plan: 'p', product: 'blinky', version: '1.4.2', orderQuantity: 10, flashed: 5 },
      counts: { pass: 4, fail: 1, error: 0 },
      faults: [],
      last: record,
      lidClosed: true,
      dutPowered: false,
    });
    expect(statusMessageSchema.parse({ ...status, at: at.toISOString() })).toMatchObject({
      online: true,
      job: { orderQuantity: 10, flashed: 5 },
      last: { seq: 5, id: 'u-000005', result: 'FAIL', reason: 'LIMIT_HIGH', failedStep: 'current', serial: 'BLK-001005' },
    });
    expect(JSON.stringify(status)).not.toContain('steps'); // the full record goes to units only
    expect(eventMessageSchema.parse(recordEvent('st-01', record, at))).toMatchObject({ type: 'record', unit: { id: 'u-000005' } });
    expect(eventMessageSchema.parse(progressEvent('st-01', { index: 0, count: 3, step: 'program', fraction: 1.2, startedAt: at }, at))).toMatchObject({ fraction: 1 });
  });
});
