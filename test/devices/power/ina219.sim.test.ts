import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimI2cBus } from '../../../src/devices/i2c/i2c.sim.js';
import { readRegister } from '../../../src/devices/i2c/i2c.js';
import { SimIna219 } from '../../../src/devices/power/ina219.sim.js';

const word = (bytes: Uint8Array): number => (bytes[0]! << 8) | bytes[1]!;

function setup(options: Partial<ConstructorParameters<typeof SimIna219>[0]> = {}) {
  const bus = new SimI2cBus(1);
  const chip = new SimIna219({ currentMa: () => 100, ...options });
  bus.attach(0x40, chip);
  return { bus, chip };
}

/** Register reads through the simulated bus under fake timers (each transaction is a faked setImmediate). */
async function reg(bus: SimI2cBus, register: number): Promise<number> {
  const p = readRegister(bus, 0x40, register, 2);
  p.catch(() => {}); // rejections reach the caller below, not the unhandled-rejection hook
  await vi.advanceTimersByTimeAsync(0);
  await vi.advanceTimersByTimeAsync(0);
  return word(await p);
}
async function write(bus: SimI2cBus, ...bytes: number[]): Promise<void> {
  const p = bus.write(0x40, Uint8Array.from(bytes));
  p.catch(() => {});
  await vi.advanceTimersByTimeAsync(0);
  await p;
}

describe('SimIna219', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('powers up with config 0x399F and calibration 0, so the current register reads 0', async () => {
    const { bus } = setup();
    expect(await reg(bus, 0x00)).toBe(0x399f);
    expect(await reg(bus, 0x05)).toBe(0);
    expect(await reg(bus, 0x01)).toBe(0); // no conversion yet: 12-bit, no averaging, both ADCs = 1.064 ms
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x01)).toBe(1000); // 100 mA × 0.1 Ω = 10 mV
    expect(await reg(bus, 0x04)).toBe(0);
  });

  it('lands a result every conversion time computed from the config bits, with CNVR set until the power register is read', async () => {
    const { bus, chip } = setup();
    await write(bus, 0x00, 0x06, 0x67); // 16x averaging on both ADCs: 2 × 8.51 ms
    expect(chip.conversionTimeMs).toBeCloseTo(17.02, 6);
    vi.advanceTimersByTime(17);
    expect((await reg(bus, 0x02)) & 0b10).toBe(0);
    vi.advanceTimersByTime(1);
    expect((await reg(bus, 0x02)) & 0b10).toBe(0b10);
    expect((await reg(bus, 0x02)) & 0b10).toBe(0b10); // reading the bus register does not clear it
    await reg(bus, 0x03); // the power register does
    expect((await reg(bus, 0x02)) & 0b10).toBe(0);
    vi.advanceTimersByTime(17);
    expect((await reg(bus, 0x02)) & 0b10).toBe(0b10); // the next result (at 34.04 ms)
    await write(bus, 0x00, 0x06, 0x67); // a config write restarts conversion and clears CNVR
    expect((await reg(bus, 0x02)) & 0b10).toBe(0);
    expect(chip.stats).toEqual({ freshReads: 0, staleReads: 0 });
  });

  it('counts shunt reads of a result already read as stale', async () => {
    const { bus, chip } = setup();
    vi.advanceTimersByTime(2);
    await reg(bus, 0x01);
    await reg(bus, 0x01);
    vi.advanceTimersByTime(2);
    await reg(bus, 0x01);
    expect(chip.stats).toEqual({ freshReads: 2, staleReads: 1 });
  });

  it('goes through a power-on reset on brownOut(): config 0x399F, calibration 0, current 0', async () => {
    const { bus, chip } = setup();
    await write(bus, 0x05, 0x10, 0x00);
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x04)).toBe(1000);
    chip.brownOut();
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x00)).toBe(0x399f);
    expect(await reg(bus, 0x05)).toBe(0);
    expect(await reg(bus, 0x04)).toBe(0);
  });

  it('computes current and power from shunt, bus and calibration', async () => {
    const { bus } = setup({ busVoltageV: () => 3.3 });
    await write(bus, 0x05, 0x10, 0x00); // Cal 4096, used from the next result on
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x01)).toBe(1000);
    expect(await reg(bus, 0x04)).toBe(1000); // 1000 × 4096 / 4096
    expect((await reg(bus, 0x02)) >> 3).toBe(825); // 3.3 V / 4 mV
    expect(await reg(bus, 0x03)).toBe(165); // 1000 × 825 / 5000
  });

  it('sets OVF when the current math overflows (a calibration too large for the shunt voltage)', async () => {
    const { bus } = setup({ currentMa: () => 400 });
    await write(bus, 0x05, 0xff, 0xfe); // Cal 65534: 4000 × 65534 / 4096 = 63998 > 32767
    vi.advanceTimersByTime(2);
    expect((await reg(bus, 0x02)) & 1).toBe(1);
    expect(await reg(bus, 0x04)).toBe(32767);
  });

  it('ignores bit 0 of the calibration and resets on config bit 15', async () => {
    const { bus, chip } = setup();
    await write(bus, 0x05, 0x12, 0x35);
    expect(chip.register(0x05)).toBe(0x1234);
    await write(bus, 0x00, 0x80, 0x00);
    expect(chip.register(0x05)).toBe(0);
    expect(chip.register(0x00)).toBe(0x399f);
  });

  it('clips the shunt register at the PGA range (40 mV at /1)', async () => {
    const { bus } = setup({ currentMa: () => 1000 });
    await write(bus, 0x00, 0x00, 0x1f); // PGA /1
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x01)).toBe(4000);
    await write(bus, 0x00, 0x18, 0x1f); // PGA /8
    vi.advanceTimersByTime(2);
    expect(await reg(bus, 0x01)).toBe(10000);
  });

  it('rejects misuse the chip would NAK: odd lengths, read-only registers, missing registers', async () => {
    const { bus } = setup();
    await expect(bus.write(0x40, Uint8Array.of(0x05, 0x10))).rejects.toMatchObject({ code: 'EIO', message: /write of 2 bytes/ });
    await expect(bus.write(0x40, Uint8Array.of(0x04, 0x00, 0x01))).rejects.toMatchObject({ code: 'EIO', message: /read-only/ });
    await expect(bus.write(0x40, Uint8Array.of(0x07))).rejects.toMatchObject({ code: 'EIO', message: /does not exist/ });
    await expect(bus.read(0x40, 4)).rejects.toMatchObject({ code: 'EIO' });
  });

  it('adds deterministic noise from its seed', async () => {
    const read = async (seed: number): Promise<number[]> => {
      const { bus } = setup({ noiseMa: 2, seed });
      const out: number[] = [];
      for (let i = 0; i < 200; i++) {
        vi.advanceTimersByTime(2); // a new result each time
        out.push(await reg(bus, 0x01));
      }
      return out;
    };
    const a = await read(7);
    expect(await read(7)).toEqual(a);
    expect(await read(8)).not.toEqual(a);
    const mean = a.reduce((x, y) => x + y, 0) / a.length;
    const sd = Math.sqrt(a.reduce((x, y) => x + (y - mean) ** 2, 0) / a.length);
    expect(mean).toBeGreaterThan(990);
    expect(mean).toBeLessThan(1010);
    expect(sd).toBeGreaterThan(12); // 2 mA × 0.1 Ω = 200 µV = 20 LSB
    expect(sd).toBeLessThan(28);
  });

  it('fails injected transactions with the requested code', async () => {
    const { bus, chip } = setup();
    vi.advanceTimersByTime(2);
    chip.failNext(1, 'EREMOTEIO');
    await expect(reg(bus, 0x01)).rejects.toMatchObject({ code: 'EREMOTEIO' });
    expect(await reg(bus, 0x01)).toBe(1000);
  });
});
