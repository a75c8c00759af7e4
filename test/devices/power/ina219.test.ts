import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimI2cBus, type SimI2cDevice } from '../../../src/devices/i2c/i2c.sim.js';
import { I2cError } from '../../../src/devices/i2c/i2c.js';
import { Ina219, ina219Calibration } from '../../../src/devices/power/ina219.js';
import { SimIna219 } from '../../../src/devices/power/ina219.sim.js';
import { PowerMonitorError } from '../../../src/devices/power/power-monitor.js';

function jig(options: { currentMa?: number; busV?: number; maxCurrentA?: number; attempts?: number } = {}) {
  const state = { currentMa: options.currentMa ?? 25, busV: options.busV ?? 5 };
  const bus = new SimI2cBus(1);
  const chip = new SimIna219({ currentMa: () => state.currentMa, busVoltageV: () => state.busV, shuntOhms: 0.1 });
  bus.attach(0x40, chip);
  const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: options.maxCurrentA ?? 0.4, attempts: options.attempts ?? 3, retryDelayMs: 0 });
  return { state, bus, chip, ina };
}

/** Let a promise settle under fake time (the simulated chip converts on the clock), a millisecond at a time. */
async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 10_000 && !done; i++) await vi.advanceTimersByTimeAsync(1);
  return promise;
}

describe('ina219Calibration', () => {
  it('rounds Current_LSB up to a 1-2-5 step and truncates Cal (datasheet example: 2 A, 0.1 Ω)', () => {
    expect(ina219Calibration(0.1, 2)).toEqual({ currentLsbA: 0.0001, powerLsbW: 0.002, calibration: 4096, pga: 3, shuntRangeMv: 320 });
  });

  it('picks the smallest PGA range that holds max × R × 1.25, and a Current_LSB that counts the whole range', () => {
    expect(ina219Calibration(0.1, 0.4)).toMatchObject({ currentLsbA: 0.000025, calibration: 16384, pga: 1, shuntRangeMv: 80 });
    expect(ina219Calibration(0.1, 1)).toMatchObject({ currentLsbA: 0.00005, calibration: 8192, pga: 2, shuntRangeMv: 160 });
    expect(ina219Calibration(0.1, 0.32)).toMatchObject({ currentLsbA: 0.00002, calibration: 20480, pga: 0, shuntRangeMv: 40 }); // 32 mV × 1.25 = 40 mV: just fits
    expect(ina219Calibration(0.1, 0.33)).toMatchObject({ pga: 1, shuntRangeMv: 80 }); // 41.25 mV
  });

  it('keeps Cal within 16 bits with a tiny shunt', () => {
    // 0.01 Ω: the 40 mV range is 4 A, 4 A / 32767 = 122 µA -> 200 µA, Cal = 20480
    expect(ina219Calibration(0.01, 0.1)).toMatchObject({ currentLsbA: 0.0002, calibration: 20480, pga: 0 });
  });

  it('rejects a shunt voltage beyond 320 mV', () => {
    expect(() => ina219Calibration(0.5, 1)).toThrow(/320 mV/);
  });
});

describe('Ina219 against the register-level simulation', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes config and calibration MSB first and reads them back', async () => {
    const { chip, ina } = jig();
    await settle(ina.init());
    const writes = chip.traffic.filter((t) => t.dir === 'write' && t.bytes.length === 3);
    expect(writes.map((t) => t.bytes)).toEqual([
      [0x00, ina.config >> 8, ina.config & 0xff],
      [0x05, 0x40, 0x00], // 16384 = 0x4000
    ]);
    expect(chip.register(0x05)).toBe(16384);
    expect(chip.register(0x00)).toBe(ina.config);
    expect(ina.config).toBe(0x0e67); // 16 V, PGA /2 (80 mV), 16-sample averaging on both ADCs, continuous
  });

  it('reads current, bus and shunt voltage (big-endian registers)', async () => {
    const { chip, ina } = jig({ currentMa: 25, busV: 5 });
    await settle(ina.init());
    await vi.advanceTimersByTimeAsync(20); // a conversion has landed: one read of the bus register finds CNVR
    expect(await settle(ina.sample())).toEqual({ currentMa: 25, busVoltageV: 5, shuntVoltageMv: 2.5, overflow: false });
    const reads = chip.traffic.filter((t) => t.dir === 'read').slice(-5).map((t) => t.bytes);
    expect(reads).toEqual([
      [0x40, 0x00], // calibration still 16384
      [0x27, 0x12], // bus 1250 × 4 mV << 3 | CNVR
      [0x00, 0xfa], // shunt 250 × 10 µV
      [0x03, 0xe8], // current 1000 × 25 µA
      [0x00, 0xfa], // power 1000 × 1250 / 5000 (read to clear CNVR)
    ]);
  });

  it('computes the current register with the chip integer arithmetic', async () => {
    const { state, ina } = jig();
    state.currentMa = 12.345; // shunt 123 -> 123 × 16384 / 4096 = 492 -> 12.3 mA
    await settle(ina.init());
    expect((await settle(ina.sample())).currentMa).toBe(12.3);
  });

  it('reads a negative shunt voltage as a negative current', async () => {
    const { state, chip, ina } = jig();
    state.currentMa = -30;
    await settle(ina.init());
    expect(await settle(ina.sample())).toMatchObject({ currentMa: -30, shuntVoltageMv: -3 });
    expect(chip.traffic.filter((t) => t.dir === 'read').at(-3)!.bytes).toEqual([0xfe, 0xd4]); // -300
  });

  it('retries transient bus errors', async () => {
    const { chip, ina } = jig();
    await settle(ina.init());
    chip.failNext(2);
    expect((await settle(ina.sample())).currentMa).toBe(25);
  });

  it('reports a bus error that outlasts the retries, with the I2cError as cause', async () => {
    const { chip, ina } = jig({ attempts: 3 });
    await settle(ina.init());
    chip.failNext(3);
    const error = await settle(ina.sample().catch((e: unknown) => e));
    expect(error).toBeInstanceOf(PowerMonitorError);
    expect(error).toMatchObject({ code: 'I2C', message: expect.stringMatching(/ina219 i2c-1 0x40: read register 0x05 failed after 3 attempts/) });
    expect((error as PowerMonitorError).cause).toBeInstanceOf(I2cError);
    expect((error as PowerMonitorError).cause).toMatchObject({ code: 'EIO' });
  });

  it('reports a missing device (EREMOTEIO) after the same bounded retries', async () => {
    const { bus, ina } = jig();
    let transactions = 0;
    bus.onTransaction = () => transactions++;
    bus.detach(0x40);
    const error = await settle(ina.init().catch((e: unknown) => e));
    expect(error).toMatchObject({ code: 'I2C', cause: { code: 'EREMOTEIO' } });
    expect(transactions).toBe(0); // never acknowledged
  });

  it('refuses to sample before init', async () => {
    const { ina } = jig();
    await expect(settle(ina.sample())).rejects.toMatchObject({ code: 'NOT_INITIALISED' });
  });

  it('detects a chip that does not keep its calibration (not an INA219)', async () => {
    const bus = new SimI2cBus(1);
    const stuckHigh: SimI2cDevice = { onWrite: () => undefined, onRead: (n) => new Uint8Array(n).fill(0xff) };
    bus.attach(0x40, stuckHigh);
    const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4, retryDelayMs: 0 });
    await expect(settle(ina.init())).rejects.toMatchObject({ code: 'CALIBRATION_MISMATCH', message: expect.stringMatching(/0xffff/) });
  });
});
