import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimI2cBus } from '../../src/devices/i2c/i2c.sim.js';
import { Ina219 } from '../../src/devices/power/ina219.js';
import { SimIna219 } from '../../src/devices/power/ina219.sim.js';
import { currentStep } from '../../src/steps/current.js';
import { StepError } from '../../src/steps/errors.js';
import { DEMO, functionalContext, measurement, simFirmware, simFlash, type FunctionalContextOptions } from '../helpers/functional-context.js';

/** The virtual jig's supply path: firmware current -> SimIna219 (seeded noise) -> Ina219 driver. */
async function jig(noiseMa = 0.3) {
  const firmware = simFirmware(simFlash({ firmware: DEMO }));
  const bus = new SimI2cBus(1);
  bus.attach(0x40, new SimIna219({ currentMa: () => firmware.supplyCurrentMa(), busVoltageV: () => 3.3, noiseMa, seed: 42 }));
  const powerMonitor = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4, retryDelayMs: 0 });
  firmware.powerOn();
  await vi.advanceTimersByTimeAsync(100);
  firmware.receive(Buffer.from('led status on\n')); // steady LEDs: a steady current
  await vi.advanceTimersByTimeAsync(10);
  return { firmware, bus, powerMonitor };
}

async function run(params: unknown, devices: FunctionalContextOptions['devices'], signal?: AbortSignal) {
  const { ctx } = functionalContext(currentStep, params, { devices, signal });
  const result = currentStep.run(ctx).catch((e: unknown) => e);
  await vi.advanceTimersByTimeAsync(60_000);
  return result;
}

describe('current step', () => {
  beforeEach(() => {
    // Everything faked, the sim bus's per-transaction setImmediate included: under the fake
    // clock each transaction then takes 1 ms, about what it takes at 100 kHz.
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('measures min / mean / max over the window after settling', async () => {
    const { firmware, powerMonitor } = await jig();
    const out = await run({ settle_ms: 200, samples: 10, window_ms: 90 }, { powerMonitor });
    expect(out).not.toBeInstanceOf(Error);
    const result = out as Awaited<ReturnType<typeof currentStep.run>>;
    expect(result.measurements!.map((m) => `${m.name} ${m.unit}`)).toEqual([
      'current_min_ma mA',
      'current_mean_ma mA',
      'current_max_ma mA',
      'current_bus_v V',
    ]);
    const mean = measurement(result, 'current_mean_ma') as number;
    expect(mean).toBeGreaterThan(34.7);
    expect(mean).toBeLessThan(35.3); // 25 mA running + 2 LEDs × 5 mA
    expect(measurement(result, 'current_min_ma')).toBeLessThan(mean);
    expect(measurement(result, 'current_max_ma')).toBeGreaterThan(mean);
    expect(measurement(result, 'current_bus_v')).toBe(3.3);
    expect(result.data).toMatchObject({ monitor: 'ina219 i2c-1 0x40', overflow_samples: 0 });
    expect((result.data!.samples_ma as number[]).length).toBe(10);
    firmware.dispose();
  });

  it('waits settle_ms before the first sample and spreads samples over window_ms', async () => {
    const { firmware, powerMonitor } = await jig(0);
    const times: number[] = [];
    const sample = powerMonitor.sample.bind(powerMonitor);
    powerMonitor.sample = () => (times.push(Date.now()), sample());
    const t0 = Date.now();
    await run({ settle_ms: 500, samples: 4, window_ms: 300 }, { powerMonitor });
    const first = times[0]! - t0;
    expect(first).toBeGreaterThanOrEqual(500);
    expect(first).toBeLessThan(520); // init's six transactions come before the settle time
    expect(times.map((t) => t - times[0]!)).toEqual([0, 100, 200, 300]); // sample starts, not gaps between samples
    firmware.dispose();
  });

  it('reports an overcurrent as measured values (the runner judges LIMIT_HIGH)', async () => {
    const { firmware, powerMonitor } = await jig();
    firmware.inject({ extraCurrentMa: 120 });
    const result = (await run({ name: 'run', samples: 5, window_ms: 40 }, { powerMonitor })) as Awaited<ReturnType<typeof currentStep.run>>;
    expect(measurement(result, 'run_mean_ma')).toBeGreaterThan(154);
    expect(measurement(result, 'run_max_ma')).toBeLessThan(156);
    firmware.dispose();
  });

  it('reports an undercurrent as measured values (the runner judges LIMIT_LOW)', async () => {
    const { firmware, powerMonitor } = await jig();
    firmware.inject({ extraCurrentMa: -20 });
    const result = (await run({ samples: 5 }, { powerMonitor })) as Awaited<ReturnType<typeof currentStep.run>>;
    expect(measurement(result, 'current_mean_ma')).toBeGreaterThan(14.5);
    expect(measurement(result, 'current_mean_ma')).toBeLessThan(15.5);
    firmware.dispose();
  });

  it('fails with I2C_ERROR when the INA219 does not answer', async () => {
    const { firmware, bus, powerMonitor } = await jig();
    bus.detach(0x40);
    const error = await run({}, { powerMonitor });
    expect(error).toBeInstanceOf(StepError);
    expect(error).toMatchObject({ code: 'I2C_ERROR', details: { monitor: 'ina219 i2c-1 0x40', code: 'I2C', i2c: 'EREMOTEIO' } });
    expect((error as Error).message).toMatch(/ina219 i2c-1 0x40: write register 0x00 failed after 3 attempts: i2c-1 0x40: no acknowledge/);
    firmware.dispose();
  });

  it('fails with DEVICE_MISSING when the station has no power monitor', async () => {
    expect(await run({}, {})).toMatchObject({ code: 'DEVICE_MISSING' });
  });

  it('stops while settling when the signal aborts', async () => {
    const { firmware, powerMonitor } = await jig();
    const controller = new AbortController();
    const { ctx } = functionalContext(currentStep, { settle_ms: 10_000 }, { devices: { powerMonitor }, signal: controller.signal });
    const result = currentStep.run(ctx).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort(new Error('lid opened'));
    expect(await result).toMatchObject({ message: 'lid opened' });
    firmware.dispose();
  });

  it('validates its params at plan load', () => {
    expect(currentStep.params.parse({})).toEqual({ name: 'current', settle_ms: 200, samples: 10, window_ms: 100 });
    expect(() => currentStep.params.parse({ samples: 0 })).toThrow();
    expect(() => currentStep.params.parse({ name: 'Bad Name' })).toThrow();
    expect(() => currentStep.params.parse({ settle: 5 })).toThrow(); // unknown key: a typo in the plan
  });
});
