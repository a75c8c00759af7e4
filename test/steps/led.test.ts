import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DebouncedInput } from '../../src/devices/gpio/lines.js';
import { SimI2cBus } from '../../src/devices/i2c/i2c.sim.js';
import type { LightSensor } from '../../src/devices/light/light-sensor.js';
import { PhotoSensor } from '../../src/devices/light/photo.js';
import { SimPhotoTransistor } from '../../src/devices/light/photo.sim.js';
import { Tcs34725 } from '../../src/devices/light/tcs34725.js';
import { SimTcs34725, ledIrradiance } from '../../src/devices/light/tcs34725.sim.js';
import { StepError } from '../../src/steps/errors.js';
import { classify, colourName, ledStep } from '../../src/steps/led.js';
import type { StepOutput } from '../../src/steps/step.js';
import { DEMO, functionalContext, measurement, simFirmware, simFlash } from '../helpers/functional-context.js';

/** The virtual jig's LED path: firmware LEDs -> phototransistors on GPIO inputs, and a colour sensor on `status`. */
async function jig(options: { tcsId?: number } = {}) {
  const firmware = simFirmware(simFlash({ firmware: DEMO }));
  const sensors = new Map<string, LightSensor>();
  for (const led of ['pwr', 'status']) {
    const input = new DebouncedInput(led, false, 5);
    new SimPhotoTransistor(firmware, led, (level) => input.feed(level)).start();
    sensors.set(led, new PhotoSensor(led, input));
  }
  const bus = new SimI2cBus(1);
  bus.attach(0x29, new SimTcs34725({ light: () => ledIrradiance(firmware.ledColour('status'), firmware.ledLit('status')), id: options.tcsId }));
  sensors.set('status-colour', new Tcs34725({ bus, name: 'status-colour', integrationMs: 24, retryDelayMs: 0 }));
  firmware.powerOn();
  await vi.advanceTimersByTimeAsync(100);
  const command = async (line: string): Promise<void> => {
    firmware.receive(Buffer.from(`${line}\n`));
    await vi.advanceTimersByTimeAsync(10);
  };
  return { firmware, bus, sensors, command };
}

async function run(params: unknown, lightSensors: Map<string, LightSensor>, signal?: AbortSignal): Promise<StepOutput | StepError> {
  const { ctx } = functionalContext(ledStep, params, { devices: { lightSensors }, signal });
  const result = ledStep.run(ctx).catch((e: StepError) => e);
  await vi.advanceTimersByTimeAsync(5000);
  return result;
}

describe('led step', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sees the status LED blink at 2 Hz through a phototransistor', async () => {
    const { firmware, sensors } = await jig();
    const out = (await run({ sensor: 'status', expect: 'blink', window_ms: 1000 }, sensors)) as StepOutput;
    expect(out.measurements).toEqual([
      { name: 'status_state', value: 'blink' },
      { name: 'status_duty', value: 0.5 },
      { name: 'status_freq_hz', value: 2, unit: 'Hz' },
    ]);
    firmware.dispose();
  });

  it('sees the power LED steadily on', async () => {
    const { firmware, sensors } = await jig();
    const out = (await run({ sensor: 'pwr', expect: 'on', window_ms: 300 }, sensors)) as StepOutput;
    expect(measurement(out, 'pwr_state')).toBe('on');
    expect(measurement(out, 'pwr_duty')).toBe(1);
    firmware.dispose();
  });

  it('fails LED_STATE for an LED that stays dark, keeping what it measured', async () => {
    const { firmware, sensors } = await jig();
    firmware.inject({ darkLeds: ['pwr'] });
    await vi.advanceTimersByTimeAsync(10); // past the input's 5 ms debounce
    const error = await run({ sensor: 'pwr', expect: 'on', window_ms: 300 }, sensors);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toBe('LED pwr: expected on, seen off (lit 0% of 300 ms, 0 Hz)');
    expect(error).toMatchObject({
      code: 'LED_STATE',
      message: 'LED pwr: expected on, seen off (lit 0% of 300 ms, 0 Hz)',
      details: { expected: 'on', measured: 'off' },
    });
    expect((error as StepError).details!.measurements).toContainEqual({ name: 'pwr_duty', value: 0 });
    firmware.dispose();
  });

  it('without `expect`, only measures: a dark LED is a measured "off" for the runner to judge', async () => {
    const { firmware, sensors } = await jig();
    firmware.inject({ darkLeds: ['status'] });
    const out = (await run({ sensor: 'status', name: 'led1' }, sensors)) as StepOutput;
    expect(measurement(out, 'led1_state')).toBe('off');
    expect(measurement(out, 'led1_freq_hz')).toBe(0);
    firmware.dispose();
  });

  it('measures colour, hue and intensity with the TCS34725', async () => {
    const { firmware, sensors, command } = await jig();
    await command('led status on');
    const out = (await run({ sensor: 'status-colour', name: 'status', expect: 'on', window_ms: 200 }, sensors)) as StepOutput;
    expect(Object.fromEntries(out.measurements!.map((m) => [m.name, m.value]))).toEqual({
      status_state: 'on',
      status_duty: 1,
      status_freq_hz: 0,
      status_colour: 'green',
      status_hue: 120,
      status_r: 0.001,
      status_g: 0.997,
      status_b: 0.001,
      status_intensity: 0.414, // clear 4240 of 10240 counts (4× gain, 24 ms)
    });
    firmware.dispose();
  });

  it('measures a wrong colour (amber part fitted): the runner fails it against `equals: green`', async () => {
    const { firmware, sensors, command } = await jig();
    firmware.inject({ ledColours: { status: { r: 255, g: 120, b: 0 } } });
    await command('led status on');
    const out = (await run({ sensor: 'status-colour', name: 'status', window_ms: 200 }, sensors)) as StepOutput;
    expect(measurement(out, 'status_colour')).toBe('amber');
    expect(measurement(out, 'status_hue')).toBe(28);
    firmware.dispose();
  });

  it('sees a blink with the colour sensor too, and reports colour "none" for a dark LED', async () => {
    const { firmware, sensors } = await jig();
    const blink = (await run({ sensor: 'status-colour', name: 'status', window_ms: 1000 }, sensors)) as StepOutput;
    expect(measurement(blink, 'status_state')).toBe('blink');
    expect(measurement(blink, 'status_colour')).toBe('green');
    firmware.inject({ darkLeds: ['status'] });
    const dark = (await run({ sensor: 'status-colour', name: 'status', window_ms: 200 }, sensors)) as StepOutput;
    expect(measurement(dark, 'status_colour')).toBe('none');
    firmware.dispose();
  });

  it('fails DEVICE_MISSING for a sensor the station does not have', async () => {
    const { firmware, sensors } = await jig();
    expect(await run({ sensor: 'fault' }, sensors)).toMatchObject({
      code: 'DEVICE_MISSING',
      message: 'no light sensor "fault" on this station (configured: pwr, status, status-colour)',
    });
    firmware.dispose();
  });

  it('fails I2C_ERROR when the colour sensor does not answer', async () => {
    const { firmware, bus, sensors } = await jig();
    bus.detach(0x29);
    expect(await run({ sensor: 'status-colour' }, sensors)).toMatchObject({ code: 'I2C_ERROR', details: { code: 'I2C' } });
    firmware.dispose();
  });

  it('fails DEVICE_MISSING when the chip at the address is not a TCS3472x', async () => {
    const { firmware, sensors } = await jig({ tcsId: 0x60 });
    expect(await run({ sensor: 'status-colour' }, sensors)).toMatchObject({ code: 'DEVICE_MISSING', details: { code: 'WRONG_ID' } });
    firmware.dispose();
  });

  it('stops when the signal aborts', async () => {
    const { firmware, sensors } = await jig();
    const controller = new AbortController();
    const { ctx } = functionalContext(ledStep, { sensor: 'status', window_ms: 10_000 }, { devices: { lightSensors: sensors }, signal: controller.signal });
    const result = ledStep.run(ctx).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort(new Error('ABORT pressed'));
    expect(await result).toMatchObject({ message: 'ABORT pressed' });
    firmware.dispose();
  });
});

describe('led classification', () => {
  it('names states from edges and duty', () => {
    expect(classify({ dutyCycle: 0.5, frequencyHz: 2, edges: 4 })).toBe('blink');
    expect(classify({ dutyCycle: 0.6, frequencyHz: 0, edges: 1 })).toBe('on'); // came on during the window
    expect(classify({ dutyCycle: 0.2, frequencyHz: 0, edges: 1 })).toBe('off');
    expect(classify({ dutyCycle: 0, frequencyHz: 0, edges: 0 }, 0)).toBe('off');
  });

  it('names colours by hue, white by low saturation', () => {
    expect(colourName(250, 10, 10)).toBe('red');
    expect(colourName(255, 200, 0)).toBe('yellow');
    expect(colourName(10, 10, 250)).toBe('blue');
    expect(colourName(200, 190, 180)).toBe('white');
    expect(colourName(0, 0, 0)).toBe('none');
  });
});
