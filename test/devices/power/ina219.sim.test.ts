import { describe, expect, it } from 'vitest';
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

describe('SimIna219', () => {
  it('powers up with config 0x399F and calibration 0, so the current register reads 0', async () => {
    const { bus } = setup();
    expect(word(await readRegister(bus, 0x40, 0x00, 2))).toBe(0x399f);
    expect(word(await readRegister(bus, 0x40, 0x05, 2))).toBe(0);
    expect(word(await readRegister(bus, 0x40, 0x01, 2))).toBe(1000); // 100 mA × 0.1 Ω = 10 mV
    expect(word(await readRegister(bus, 0x40, 0x04, 2))).toBe(0);
  });

  it('computes current and power from shunt, bus and calibration', async () => {
    const { bus } = setup({ busVoltageV: () => 3.3 });
    await bus.write(0x40, Uint8Array.of(0x05, 0x10, 0x00)); // Cal 4096
    expect(word(await readRegister(bus, 0x40, 0x01, 2))).toBe(1000);
    expect(word(await readRegister(bus, 0x40, 0x04, 2))).toBe(1000); // 1000 × 4096 / 4096
    expect(word(await readRegister(bus, 0x40, 0x02, 2)) >> 3).toBe(825); // 3.3 V / 4 mV
    expect(word(await readRegister(bus, 0x40, 0x03, 2))).toBe(165); // 1000 × 825 / 5000
  });

  it('ignores bit 0 of the calibration and resets on config bit 15', async () => {
    const { bus, chip } = setup();
    await bus.write(0x40, Uint8Array.of(0x05, 0x12, 0x35));
    expect(chip.register(0x05)).toBe(0x1234);
    await bus.write(0x40, Uint8Array.of(0x00, 0x80, 0x00));
    expect(chip.register(0x05)).toBe(0);
    expect(chip.register(0x00)).toBe(0x399f);
  });

  it('clips the shunt register at the PGA range (40 mV at /1)', async () => {
    const { bus } = setup({ currentMa: () => 1000 });
    await bus.write(0x40, Uint8Array.of(0x00, 0x00, 0x1f)); // PGA /1
    expect(word(await readRegister(bus, 0x40, 0x01, 2))).toBe(4000);
    await bus.write(0x40, Uint8Array.of(0x00, 0x18, 0x1f)); // PGA /8
    expect(word(await readRegister(bus, 0x40, 0x01, 2))).toBe(10000);
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
      for (let i = 0; i < 200; i++) out.push(word(await readRegister(bus, 0x40, 0x01, 2)));
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
    chip.failNext(1, 'EREMOTEIO');
    await expect(readRegister(bus, 0x40, 0x01, 2)).rejects.toMatchObject({ code: 'EREMOTEIO' });
    expect(word(await readRegister(bus, 0x40, 0x01, 2))).toBe(1000);
  });
});
