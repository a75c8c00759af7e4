import { describe, expect, it } from 'vitest';
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

describe('ina219Calibration', () => {
  it('rounds Current_LSB up to a 1-2-5 step and truncates Cal (datasheet example: 2 A, 0.1 Ω)', () => {
    expect(ina219Calibration(0.1, 2)).toEqual({ currentLsbA: 0.0001, powerLsbW: 0.002, calibration: 4096, pga: 3, shuntRangeMv: 320 });
  });

  it('picks the smallest PGA range that holds max × R', () => {
    expect(ina219Calibration(0.1, 0.4)).toMatchObject({ currentLsbA: 0.00002, calibration: 20480, pga: 0, shuntRangeMv: 40 });
    expect(ina219Calibration(0.1, 1)).toMatchObject({ currentLsbA: 0.00005, calibration: 8192, pga: 2, shuntRangeMv: 160 });
  });

  it('truncates a non-integer Cal and keeps bit 0 clear', () => {
    // 0.04096 / (20e-6 × 0.15) = 13653.33 -> 13653 -> bit 0 is void in the chip -> 13652
    expect(ina219Calibration(0.15, 0.4).calibration).toBe(13652);
  });

  it('steps Current_LSB up when Cal would overflow 16 bits', () => {
    // 0.01 Ω, 0.1 A: 5 µA would need Cal = 819200; 100 µA gives 40960.
    expect(ina219Calibration(0.01, 0.1)).toMatchObject({ currentLsbA: 0.0001, calibration: 40960 });
  });

  it('rejects a shunt voltage beyond 320 mV', () => {
    expect(() => ina219Calibration(0.5, 1)).toThrow(/320 mV/);
  });
});

describe('Ina219 against the register-level simulation', () => {
  it('writes config and calibration MSB first and reads them back', async () => {
    const { chip, ina } = jig();
    await ina.init();
    const writes = chip.traffic.filter((t) => t.dir === 'write' && t.bytes.length === 3);
    expect(writes.map((t) => t.bytes)).toEqual([
      [0x00, ina.config >> 8, ina.config & 0xff],
      [0x05, 0x50, 0x00], // 20480 = 0x5000
    ]);
    expect(chip.register(0x05)).toBe(20480);
    expect(chip.register(0x00)).toBe(ina.config);
    expect(ina.config).toBe(0x0667); // 16 V, PGA /1, 16-sample averaging on both ADCs, continuous
  });

  it('reads current, bus and shunt voltage (big-endian registers)', async () => {
    const { chip, ina } = jig({ currentMa: 25, busV: 5 });
    await ina.init();
    expect(await ina.sample()).toEqual({ currentMa: 25, busVoltageV: 5, shuntVoltageMv: 2.5, overflow: false });
    const reads = chip.traffic.filter((t) => t.dir === 'read').slice(-3).map((t) => t.bytes);
    expect(reads).toEqual([
      [0x00, 0xfa], // shunt 250 × 10 µV
      [0x27, 0x12], // bus 1250 × 4 mV << 3 | CNVR
      [0x04, 0xe2], // current 1250 × 20 µA
    ]);
  });

  it('computes the current register with the chip integer arithmetic', async () => {
    const { state, ina } = jig();
    state.currentMa = 12.345; // shunt 123 -> 123 × 20480 / 4096 = 615 -> 12.3 mA
    await ina.init();
    expect((await ina.sample()).currentMa).toBe(12.3);
  });

  it('reads a negative shunt voltage as a negative current', async () => {
    const { state, chip, ina } = jig();
    state.currentMa = -30;
    await ina.init();
    expect(await ina.sample()).toMatchObject({ currentMa: -30, shuntVoltageMv: -3 });
    expect(chip.traffic.filter((t) => t.dir === 'read').at(-3)!.bytes).toEqual([0xfe, 0xd4]); // -300
  });

  it('saturates at the PGA range (a short reads as full scale, not as garbage)', async () => {
    const { state, ina } = jig({ maxCurrentA: 0.4 });
    state.currentMa = 2000;
    await ina.init();
    expect(await ina.sample()).toMatchObject({ currentMa: 400, shuntVoltageMv: 40, overflow: false });
  });

  it('flags the chip math overflow when the PGA range exceeds what Current_LSB can count', async () => {
    const { state, ina } = jig({ maxCurrentA: 0.41 }); // 20 µA LSB but the ±80 mV range
    state.currentMa = 2000;
    await ina.init();
    expect(await ina.sample()).toMatchObject({ currentMa: 655.34, shuntVoltageMv: 80, overflow: true });
  });

  it('retries transient bus errors', async () => {
    const { chip, ina } = jig();
    await ina.init();
    chip.failNext(2);
    expect((await ina.sample()).currentMa).toBe(25);
  });

  it('reports a bus error that outlasts the retries, with the I2cError as cause', async () => {
    const { chip, ina } = jig({ attempts: 3 });
    await ina.init();
    chip.failNext(3);
    const error = await ina.sample().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PowerMonitorError);
    expect(error).toMatchObject({ code: 'I2C', message: expect.stringMatching(/ina219 i2c-1 0x40: read register 0x01 failed after 3 attempts/) });
    expect((error as PowerMonitorError).cause).toBeInstanceOf(I2cError);
    expect((error as PowerMonitorError).cause).toMatchObject({ code: 'EIO' });
  });

  it('reports a missing device (EREMOTEIO) after the same bounded retries', async () => {
    const { bus, ina } = jig();
    let transactions = 0;
    bus.onTransaction = () => transactions++;
    bus.detach(0x40);
    const error = await ina.init().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'I2C', cause: { code: 'EREMOTEIO' } });
    expect(transactions).toBe(0); // never acknowledged
  });

  it('refuses to sample before init', async () => {
    const { ina } = jig();
    await expect(ina.sample()).rejects.toMatchObject({ code: 'NOT_INITIALISED' });
  });

  it('detects a chip that does not keep its calibration (not an INA219)', async () => {
    const bus = new SimI2cBus(1);
    const stuckHigh: SimI2cDevice = { onWrite: () => undefined, onRead: (n) => new Uint8Array(n).fill(0xff) };
    bus.attach(0x40, stuckHigh);
    const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4, retryDelayMs: 0 });
    await expect(ina.init()).rejects.toMatchObject({ code: 'CALIBRATION_MISMATCH', message: expect.stringMatching(/0xffff/) });
  });
});
