import { z } from 'zod';
import { sleep } from '../util/sleep.js';
import { PowerMonitorError, type PowerMonitor, type PowerSample } from '../devices/power/power-monitor.js';
import { defineStep } from './step.js';
import { type Measurement } from '../core/record.js';
import { StepError } from './errors.js';

const measurementPrefix = z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _ (a measurement name prefix)');

export const currentParams = z.strictObject({
  /** Measurement prefix: <name>_min_ma, <name>_mean_ma, <name>_max_ma, <name>_bus_v. */
  name: measurementPrefix.default('current'),
  /** Wait after the step starts before sampling (inrush, boot). */
  settle_ms: z.number().int().min(0).max(60_000).default(200),
  samples: z.number().int().min(1).max(1000).default(10),
  /** Samples are spread evenly over this window. */
  window_ms: z.number().int().min(0).max(60_000).default(100),
});

export type CurrentParams = z.output<typeof currentParams>;

/** DUT supply current: min, mean and max of `samples` readings over `window_ms`, after `settle_ms`. */
export const currentStep = defineStep({
  kind: 'current',
  description: 'measure the DUT supply current (INA219)',
  params: currentParams,
  needs: ['powerMonitor'],
  produces: ({ name }) => [
    { name: `${name}_min_ma`, unit: 'mA' },
    { name: `${name}_mean_ma`, unit: 'mA' },
    { name: `${name}_max_ma`, unit: 'mA' },
    { name: `${name}_bus_v`, unit: 'V' },
  ],
  async run(ctx) {
    const monitor = ctx.devices.powerMonitor;
    if (!monitor) throw new StepError('DEVICE_MISSING', 'no power monitor is configured on this station');
    const { name, settle_ms, samples, window_ms } = ctx.params;
    try {
      await monitor.init();
      ctx.progress(0, 'settling');
      await sleep(settle_ms, ctx.signal);
      const readings: PowerSample[] = [];
      const gap = samples > 1 ? window_ms / (samples - 1) : 0;
      const start = Date.now();
      for (let i = 0; i < samples; i++) {
        // Paced from the first sample, so the time a sample takes does not stretch the window.
        if (i > 0) await sleep(start + i * gap - Date.now(), ctx.signal);
        readings.push(await monitor.sample(ctx.signal));
        ctx.progress((i + 1) / samples, 'measuring current');
      }
      const currents = readings.map((r) => r.currentMa);
      const overrange = readings.filter((r) => r.overflow).length;
      if (overrange) {
        // Saturated readings are lower bounds: a limit must not pass on them.
        throw new StepError('OVERRANGE', `${monitor.description}: ${overrange} of ${readings.length} samples beyond the measurable range (max read ${Math.max(...currents)} mA)`, {
          details: { monitor: monitor.description, samples_ma: currents, overflow_samples: overrange },
        });
      }
      const mean = currents.reduce((a, b) => a + b, 0) / currents.length;
      const busMean = readings.reduce((a, r) => a + r.busVoltageV, 0) / readings.length;
      const measurements: Measurement[] = [
        { name: `${name}_min_ma`, value: round(Math.min(...currents), 3), unit: 'mA' },
        { name: `${name}_mean_ma`, value: round(mean, 3), unit: 'mA' },
        { name: `${name}_max_ma`, value: round(Math.max(...currents), 3), unit: 'mA' },
        { name: `${name}_bus_v`, value: round(busMean, 3), unit: 'V' },
      ];
      return {
        measurements,
        data: { monitor: monitor.description, samples_ma: currents, overflow_samples: 0, recalibrated_samples: readings.filter((r) => r.recalibrated).length },
      };
    } catch (error) {
      throw stepErrorFrom(error, monitor, ctx.signal);
    }
  },
});

function stepErrorFrom(error: unknown, monitor: PowerMonitor, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof PowerMonitorError) {
    const i2c = (error.cause as { code?: string } | undefined)?.code;
    return new StepError('I2C_ERROR', error.message, { cause: error, details: { monitor: monitor.description, code: error.code, i2c } });
  }
  return error;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
