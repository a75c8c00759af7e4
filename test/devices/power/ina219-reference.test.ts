import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimI2cBus, type SimI2cDevice } from '../../../src/devices/i2c/i2c.sim.js';
import { Ina219, ina219Calibration, ina219ConversionTimeMs, INA219_REG } from '../../../src/devices/power/ina219.js';
import { SimIna219 } from '../../../src/devices/power/ina219.sim.js';
import { currentStep } from '../../../src/steps/current.js';
import { StepError } from '../../../src/steps/errors.js';
import { functionalContext } from '../../helpers/functional-context.js';

/**
 * The INA219 driver as the reference driver (Adafruit_INA219) and the datasheet (SBOS448) have
 * it, against the register-level simulation: calibration re-checked every sample (a brown-out
 * resets it), samples paced by the conversion time (CNVR), overflow judged, and a PGA range with
 * headroom above max_current_a. Fake timers drive the simulated chip's conversions.
 */

function rig(options: { currentMa?: number; shuntOhms?: number; driverShuntOhms?: number; maxCurrentA?: number } = {}) {
  const state = { currentMa: options.currentMa ?? 25 };
  const bus = new SimI2cBus(1);
  const chip = new SimIna219({ currentMa: () => state.currentMa, busVoltageV: () => 5, shuntOhms: options.shuntOhms ?? 0.1 });
  bus.attach(0x40, chip);
  const ina = new Ina219({ bus, shuntOhms: options.driverShuntOhms ?? options.shuntOhms ?? 0.1, maxCurrentA: options.maxCurrentA ?? 0.4, retryDelayMs: 0 });
  return { state, bus, chip, ina };
}

/** Let a promise settle under fake time, a millisecond at a time. */
async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10_000 && !done; i++) await vi.advanceTimersByTimeAsync(1);
  return promise;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('INA219 calibration lost in a brown-out', () => {
  it('is found before the next sample and written again, so the current does not read 0 mA', async () => {
    const { chip, ina } = rig({ currentMa: 25 });
    await settle(ina.init());
    await vi.advanceTimersByTimeAsync(20); // a conversion has landed
    expect((await settle(ina.sample())).currentMa).toBe(25);
    chip.brownOut(); // the DUT's inrush dipped the supply: config 0x399F, calibration 0
    await vi.advanceTimersByTimeAsync(20); // ... and the chip has converted since, with Cal = 0
    expect(chip.register(INA219_REG.calibration)).toBe(0);
    expect(chip.register(INA219_REG.current)).toBe(0);
    const after = await settle(ina.sample());
    expect(after).toMatchObject({ currentMa: 25, recalibrated: true });
    expect(ina.recalibrations).toBe(1);
    expect(chip.register(INA219_REG.calibration)).toBe(ina.calibration.calibration);
    expect(chip.register(INA219_REG.config)).toBe(ina.config);
    // and the sample after that is an ordinary one
    expect(await settle(ina.sample())).not.toHaveProperty('recalibrated');
  });
});

describe('INA219 samples paced by the conversion time', () => {
  it('computes the conversion time from the config bits (datasheet table 5)', () => {
    expect(ina219ConversionTimeMs(0x0667)).toBeCloseTo(17.02, 6); // 16x on both ADCs, shunt and bus continuous
    expect(ina219ConversionTimeMs(0x399f)).toBeCloseTo(1.064, 6); // power-on default: 12 bit, no averaging
    expect(ina219ConversionTimeMs(0x07ff)).toBeCloseTo(136.2, 6); // 128x on both
    expect(ina219ConversionTimeMs(0x0665)).toBeCloseTo(8.51, 6); // shunt only
    expect(ina219ConversionTimeMs(0x0004)).toBe(0); // ADC off
    expect(new Ina219({ bus: new SimI2cBus(1), shuntOhms: 0.1, maxCurrentA: 0.4, averaging: 4 }).conversionTimeMs).toBeCloseTo(4.26, 6);
  });

  it('reads each conversion once: back-to-back samples wait for CNVR, about 17 ms apart at 16x', async () => {
    const { chip, ina } = rig();
    await settle(ina.init());
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      await settle(ina.sample());
      times.push(Date.now());
    }
    expect(chip.stats).toEqual({ freshReads: 5, staleReads: 0 });
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(17);
  });

  it('gives up with NO_CONVERSION when CNVR never comes (a chip stuck or powered down)', async () => {
    const bus = new SimI2cBus(1);
    const chip = new SimIna219({ currentMa: () => 25 });
    let pointer = 0;
    const noCnvr: SimI2cDevice = {
      onWrite: (d) => ((pointer = d[0]!), chip.onWrite(d)),
      onRead: (n) => {
        const b = chip.onRead(n);
        if (pointer === INA219_REG.bus) b[1]! &= ~0b10;
        return b;
      },
    };
    bus.attach(0x40, noCnvr);
    const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4, retryDelayMs: 0 });
    await settle(ina.init());
    const t0 = Date.now();
    await expect(settle(ina.sample())).rejects.toMatchObject({ code: 'NO_CONVERSION', message: expect.stringMatching(/ina219 i2c-1 0x40: no conversion finished within \d+ ms \(CNVR never set\)/) });
    expect(Date.now() - t0).toBeLessThan(100); // bounded: a few conversion times
  });
});

describe('INA219 range: headroom above max_current_a, overflow judged', () => {
  it('puts max_current_a at most 1/1.25 of the PGA range, with Current_LSB following the range', () => {
    // 0.4 A × 0.1 Ω = 40 mV: the 40 mV range would end exactly at max; 80 mV holds 0.8 A
    expect(ina219Calibration(0.1, 0.4)).toEqual({ currentLsbA: 0.000025, powerLsbW: 0.0005, calibration: 16384, pga: 1, shuntRangeMv: 80 });
    for (const [shunt, max] of [
      [0.1, 0.4],
      [0.1, 1],
      [0.1, 2],
      [0.05, 3],
      [0.15, 0.4],
      [0.01, 0.1],
    ] as const) {
      const cal = ina219Calibration(shunt, max);
      expect(cal.shuntRangeMv, `${shunt} Ω ${max} A`).toBeGreaterThanOrEqual(max * shunt * 1000 * 1.25 - 1e-9);
      // the current register counts the whole range without overflowing: 32767 × LSB >= range / R
      expect(32767 * cal.currentLsbA, `${shunt} Ω ${max} A`).toBeGreaterThanOrEqual(cal.shuntRangeMv / 1000 / shunt - 1e-9);
    }
    expect(() => ina219Calibration(0.1, 3)).toThrow(/needs 375\.0 mV with 1\.25× headroom, beyond the INA219's 320 mV range/);
  });

  it('reads a unit drawing more than max_current_a as more, not as exactly the maximum', async () => {
    const { ina } = rig({ currentMa: 450, maxCurrentA: 0.4 });
    await settle(ina.init());
    expect(await settle(ina.sample())).toMatchObject({ currentMa: 450, overflow: false });
  });

  it('flags a shunt voltage at the end of the PGA range as overflow (a short)', async () => {
    const { ina } = rig({ currentMa: 2000, maxCurrentA: 0.4 });
    await settle(ina.init());
    expect(await settle(ina.sample())).toMatchObject({ currentMa: 800, shuntVoltageMv: 80, overflow: true });
  });

  it("reports the chip's OVF flag as overflow", async () => {
    // With the driver's calibration the current register cannot overflow (it counts the whole PGA
    // range), so the flag comes from the bus: a chip that raises OVF on every result.
    const bus = new SimI2cBus(1);
    const chip = new SimIna219({ currentMa: () => 25 });
    let pointer = 0;
    const ovf: SimI2cDevice = {
      onWrite: (d) => ((pointer = d[0]!), chip.onWrite(d)),
      onRead: (n) => {
        const b = chip.onRead(n);
        if (pointer === INA219_REG.bus) b[1]! |= 0b01;
        return b;
      },
    };
    bus.attach(0x40, ovf);
    const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4, retryDelayMs: 0 });
    await settle(ina.init());
    await vi.advanceTimersByTimeAsync(20);
    expect(await settle(ina.sample())).toMatchObject({ currentMa: 25, overflow: true });
  });

  it('fails the current step with OVERRANGE: a saturated reading is never judged against a limit', async () => {
    const { state, ina } = rig({ currentMa: 2000, maxCurrentA: 0.4 });
    const { ctx } = functionalContext(currentStep, { name: 'run', settle_ms: 0, samples: 5, window_ms: 40 }, { devices: { powerMonitor: ina } });
    const error = await settle(currentStep.run(ctx).catch((e: unknown) => e));
    expect(error).toBeInstanceOf(StepError);
    expect(error).toMatchObject({ code: 'OVERRANGE', message: expect.stringMatching(/ina219 i2c-1 0x40: 5 of 5 samples beyond the measurable range/) });
    // a unit within range but above max_current_a is a measurement (the runner's LIMIT_HIGH)
    state.currentMa = 450;
    const result = (await settle(currentStep.run(ctx))) as Awaited<ReturnType<typeof currentStep.run>>;
    expect(result.measurements!.find((m) => m.name === 'run_max_ma')!.value).toBe(450);
  });
});
