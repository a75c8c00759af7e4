import { z } from 'zod';
import { LightSensorError, type LightReading } from '../devices/light/light-sensor.js';
import { defineStep } from './step.js';
import { type Measurement } from '../core/record.js';
import { StepError } from './errors.js';

export const ledParams = z.strictObject({
  /** The light sensor (station wiring) looking at the LED. */
  sensor: z.string().min(1),
  /** Measurement prefix; the sensor name by default. */
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _ (a measurement name prefix)')
    .optional(),
  /** When given, a different state fails the step with LED_STATE (an LED that stays dark, ...). */
  expect: z.enum(['on', 'off', 'blink']).optional(),
  /** Observation window: at least two blink periods for `blink`. */
  window_ms: z.number().int().min(10).max(60_000).default(1000),
  /** A steady LED lit for at least this fraction of the window is "on". */
  on_duty: z.number().min(0).max(1).default(0.5),
});

export type LedParams = z.output<typeof ledParams>;
export type LedStateName = 'on' | 'off' | 'blink';

/**
 * Watch one LED. Measurements (prefix = `name` or the sensor name):
 *   <led>_state ('on' | 'off' | 'blink'), <led>_duty (0..1), <led>_freq_hz;
 *   colour sensors add <led>_colour (red, amber, yellow, green, cyan, blue, magenta, white,
 *   none), <led>_hue (degrees), <led>_r/_g/_b (chromaticity, summing to 1) and
 *   <led>_intensity (clear channel / full scale).
 * The runner judges these against the plan's limits; `expect` is a state check of its own.
 */
export const ledStep = defineStep({
  kind: 'led',
  description: 'check a DUT LED with a light sensor (state, blink frequency, colour)',
  params: ledParams,
  needs: ['lightSensors'],
  produces: ({ sensor, name }) => {
    const prefix = name ?? ledPrefix(sensor);
    const colour = (suffix: string, unit?: string) => ({ name: `${prefix}_${suffix}`, ...(unit ? { unit } : {}), colourSensor: sensor });
    return [
      { name: `${prefix}_state` },
      { name: `${prefix}_duty` },
      { name: `${prefix}_freq_hz`, unit: 'Hz' },
      colour('colour'),
      colour('hue', 'deg'),
      colour('r'),
      colour('g'),
      colour('b'),
      colour('intensity'),
    ];
  },
  async run(ctx) {
    const { sensor: sensorName, window_ms, expect, on_duty } = ctx.params;
    const sensor = ctx.devices.lightSensors.get(sensorName);
    if (!sensor) {
      const known = [...ctx.devices.lightSensors.keys()].join(', ') || 'none';
      throw new StepError('DEVICE_MISSING', `no light sensor "${sensorName}" on this station (configured: ${known})`);
    }
    const prefix = ctx.params.name ?? ledPrefix(sensorName);
    ctx.progress(0, `watching LED ${sensorName}`);
    let reading: LightReading;
    try {
      reading = await sensor.observe(window_ms, ctx.signal);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (error instanceof LightSensorError) {
        const code = error.code === 'WRONG_ID' ? 'DEVICE_MISSING' : 'I2C_ERROR';
        throw new StepError(code, error.message, { cause: error, details: { sensor: sensorName, code: error.code } });
      }
      throw error;
    }
    ctx.progress(1);
    const state = classify(reading, on_duty);
    const measurements: Measurement[] = [
      { name: `${prefix}_state`, value: state },
      { name: `${prefix}_duty`, value: reading.dutyCycle },
      { name: `${prefix}_freq_hz`, value: reading.frequencyHz, unit: 'Hz' },
    ];
    if (reading.rgb) {
      const { r, g, b, clear, fullScale } = reading.rgb;
      const sum = r + g + b;
      const lit = reading.dutyCycle > 0;
      const hue = hueOf(r, g, b);
      measurements.push(
        { name: `${prefix}_colour`, value: lit ? colourName(r, g, b) : 'none' },
        { name: `${prefix}_hue`, value: Math.round(hue), unit: 'deg' },
        { name: `${prefix}_r`, value: round(sum ? r / sum : 0) },
        { name: `${prefix}_g`, value: round(sum ? g / sum : 0) },
        { name: `${prefix}_b`, value: round(sum ? b / sum : 0) },
        { name: `${prefix}_intensity`, value: round(clear / fullScale) },
      );
    }
    const data = { sensor: sensorName, kind: sensor.kind, window_ms, reading };
    if (expect && state !== expect) {
      throw new StepError(
        'LED_STATE',
        `LED ${sensorName}: expected ${expect}, seen ${state} (lit ${(reading.dutyCycle * 100).toFixed(0)}% of ${window_ms} ms, ${reading.frequencyHz} Hz)`,
        { details: { expected: expect, measured: state, measurements, ...data } },
      );
    }
    return { measurements, data };
  },
});

/** The measurement prefix a sensor name gives when the step names none. */
function ledPrefix(sensor: string): string {
  return sensor.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** Two or more transitions in the window: blinking; otherwise on or off by how long it was lit. */
export function classify(reading: LightReading, onDuty = 0.5): LedStateName {
  if (reading.edges >= 2) return 'blink';
  return reading.dutyCycle >= onDuty && reading.dutyCycle > 0 ? 'on' : 'off';
}

export function hueOf(r: number, g: number, b: number): number {
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  if (d === 0) return 0;
  let h: number;
  if (max === r) h = ((g - b) / d) % 6;
  else if (max === g) h = (b - r) / d + 2;
  else h = (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}

/** A colour name from raw channel counts: low saturation is white, otherwise by hue. */
export function colourName(r: number, g: number, b: number): string {
  const max = Math.max(r, g, b);
  if (max <= 0) return 'none';
  if ((max - Math.min(r, g, b)) / max < 0.25) return 'white';
  const hue = hueOf(r, g, b);
  const names: Array<[number, string]> = [
    [15, 'red'], [40, 'amber'], [70, 'yellow'], [165, 'green'], [195, 'cyan'], [260, 'blue'], [330, 'magenta'], [360, 'red'],
  ];
  return names.find(([limit]) => hue < limit)![1];
}

function round(value: number): number {
  return Number(value.toFixed(3));
}
