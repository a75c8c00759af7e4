import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimI2cBus } from '../../../src/devices/i2c/i2c.sim.js';
import { readRegister } from '../../../src/devices/i2c/i2c.js';
import { LightSensorError } from '../../../src/devices/light/light-sensor.js';
import { Tcs34725 } from '../../../src/devices/light/tcs34725.js';
import { SimTcs34725, ledIrradiance } from '../../../src/devices/light/tcs34725.sim.js';
import { DEMO, simFirmware, simFlash } from '../../helpers/functional-context.js';

function setup(options: { id?: number } = {}) {
  const firmware = simFirmware(simFlash({ firmware: DEMO }));
  const bus = new SimI2cBus(1);
  const chip = new SimTcs34725({ light: () => ledIrradiance(firmware.ledColour('status'), firmware.ledLit('status')), ...options });
  bus.attach(0x29, chip);
  const sensor = new Tcs34725({ bus, name: 'status', integrationMs: 24, gain: 4, retryDelayMs: 0 });
  return { firmware, bus, chip, sensor };
}

async function run<T>(promise: Promise<T>, ms: number): Promise<T> {
  await vi.advanceTimersByTimeAsync(ms);
  return promise;
}

async function booted(firmware: ReturnType<typeof simFirmware>, command?: string): Promise<void> {
  firmware.powerOn();
  await vi.advanceTimersByTimeAsync(100);
  if (command) {
    firmware.receive(Buffer.from(`${command}\n`));
    await vi.advanceTimersByTimeAsync(10);
  }
}

describe('Tcs34725 against the register-level simulation', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checks the ID, sets integration time and gain, enables PON then AEN', async () => {
    const { chip, sensor } = setup();
    await run(sensor.init(), 50);
    expect(chip.register(0x01)).toBe(256 - 10); // 10 cycles × 2.4 ms = 24 ms
    expect(chip.register(0x0f)).toBe(1); // 4× gain
    expect(chip.register(0x00)).toBe(0x03); // PON | AEN
    expect(sensor.fullScale).toBe(10240);
  });

  it('reads the four channels little-endian through auto-increment', async () => {
    const { firmware, sensor } = setup();
    await booted(firmware, 'led status on');
    const reading = await run(sensor.read(), 50);
    // green LED: 40 counts/ms at full brightness + 0.05 ambient, × 24 ms × 4
    expect(reading.g).toBe(Math.round(40.05 * 96));
    expect(reading.r).toBe(Math.round(0.05 * 96));
    expect(reading.clear).toBe(Math.round((40.05 + 0.1) * 96 * 1.1));
  });

  it('observes a steady green LED: on, colour counts while lit', async () => {
    const { firmware, sensor } = setup();
    await booted(firmware, 'led status on');
    const reading = await run(sensor.observe(500, new AbortController().signal), 600);
    expect(reading).toMatchObject({ dutyCycle: 1, edges: 0, frequencyHz: 0 });
    expect(reading.rgb).toMatchObject({ g: 3845, r: 5, b: 5, fullScale: 10240 });
  });

  it('observes a 2 Hz blink from 24 ms samples', async () => {
    const { firmware, sensor } = setup();
    await booted(firmware);
    const reading = await run(sensor.observe(1000, new AbortController().signal), 1100);
    expect(reading.frequencyHz).toBeGreaterThan(1.9);
    expect(reading.frequencyHz).toBeLessThan(2.1);
    expect(reading.dutyCycle).toBeGreaterThan(0.4);
    expect(reading.dutyCycle).toBeLessThan(0.6);
  });

  it('sees a wrong colour (amber part fitted for green)', async () => {
    const { firmware, sensor } = setup();
    firmware.inject({ ledColours: { status: { r: 255, g: 120, b: 0 } } });
    await booted(firmware, 'led status on');
    const reading = await run(sensor.observe(200, new AbortController().signal), 300);
    expect(reading.rgb!.r).toBeGreaterThan(reading.rgb!.g);
  });

  it('rejects a chip with the wrong ID', async () => {
    const { sensor } = setup({ id: 0x00 });
    const error = await run(sensor.init().catch((e: unknown) => e), 50);
    expect(error).toBeInstanceOf(LightSensorError);
    expect(error).toMatchObject({ code: 'WRONG_ID', message: expect.stringMatching(/reads 0x0, expected 0x44, 0x4d, 0x10/) });
  });

  it('accepts the TCS34727 ID 0x4d', async () => {
    const { sensor } = setup({ id: 0x4d });
    await expect(run(sensor.init(), 50)).resolves.toBeUndefined();
  });

  it('accepts ID 0x10, which some TCS34725 boards report (as Adafruit_TCS34725 does), and reads it', async () => {
    const { sensor, firmware } = setup({ id: 0x10 });
    await expect(run(sensor.init(), 50)).resolves.toBeUndefined();
    await booted(firmware, 'led status on');
    const reading = await run(sensor.observe(200, new AbortController().signal), 300);
    expect(reading.dutyCycle).toBeGreaterThan(0.9);
  });

  it('reports a missing sensor as an I2C LightSensorError with EREMOTEIO as cause', async () => {
    const { bus, sensor } = setup();
    bus.detach(0x29);
    const error = await run(sensor.observe(100, new AbortController().signal).catch((e: unknown) => e), 50);
    expect(error).toMatchObject({ code: 'I2C', cause: { code: 'EREMOTEIO' }, message: expect.stringMatching(/i2c-1 0x29.*after 3 attempts/) });
  });

  it('rejects writes without the command bit, like the chip', async () => {
    vi.useRealTimers(); // plain bus traffic, no clock involved
    const { bus } = setup();
    await expect(bus.write(0x29, Uint8Array.of(0x12))).rejects.toMatchObject({ code: 'EIO', message: /command bit/ });
    expect((await readRegister(bus, 0x29, 0x80 | 0x12, 1))[0]).toBe(0x44);
  });
});
