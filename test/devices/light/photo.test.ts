import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DebouncedInput } from '../../../src/devices/gpio/lines.js';
import { PhotoSensor } from '../../../src/devices/light/photo.js';
import { SimPhotoTransistor } from '../../../src/devices/light/photo.sim.js';
import { DEMO, simFirmware, simFlash } from '../../helpers/functional-context.js';

function setup() {
  const firmware = simFirmware(simFlash({ firmware: DEMO }));
  const input = new DebouncedInput('status', false, 5);
  const photo = new SimPhotoTransistor(firmware, 'status', (level) => input.feed(level));
  photo.start();
  const sensor = new PhotoSensor('status', input);
  return { firmware, input, photo, sensor };
}

async function observe(sensor: PhotoSensor, windowMs: number, signal = new AbortController().signal) {
  const reading = sensor.observe(windowMs, signal);
  await vi.advanceTimersByTimeAsync(windowMs);
  return reading;
}

describe('PhotoSensor on a simulated phototransistor', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('measures a 2 Hz blink: frequency from edge spacing, half duty', async () => {
    const { firmware, sensor } = setup();
    firmware.powerOn();
    await vi.advanceTimersByTimeAsync(100); // boot (80 ms) + a little
    expect(await observe(sensor, 1000)).toEqual({ dutyCycle: 0.5, frequencyHz: 2, edges: 4 });
    firmware.dispose();
  });

  it('follows the firmware: steady on, then off', async () => {
    const { firmware, sensor } = setup();
    firmware.powerOn();
    await vi.advanceTimersByTimeAsync(100);
    firmware.receive(Buffer.from('led status on\n'));
    await vi.advanceTimersByTimeAsync(20);
    expect(await observe(sensor, 500)).toEqual({ dutyCycle: 1, frequencyHz: 0, edges: 0 });
    firmware.receive(Buffer.from('led status off\n'));
    await vi.advanceTimersByTimeAsync(20);
    expect(await observe(sensor, 500)).toEqual({ dutyCycle: 0, frequencyHz: 0, edges: 0 });
    firmware.dispose();
  });

  it('resolves a fast blink limited only by the debounce (20 Hz through 5 ms)', async () => {
    const { firmware, sensor } = setup();
    firmware.powerOn();
    await vi.advanceTimersByTimeAsync(100);
    firmware.receive(Buffer.from('led status blink 20\n'));
    await vi.advanceTimersByTimeAsync(20);
    const reading = await observe(sensor, 1000);
    expect(reading.frequencyHz).toBe(20);
    expect(reading.dutyCycle).toBeCloseTo(0.5, 1);
    firmware.dispose();
  });

  it('sees an LED that stays dark (fault) as off', async () => {
    const { firmware, sensor } = setup();
    firmware.inject({ darkLeds: ['status'] });
    firmware.powerOn();
    await vi.advanceTimersByTimeAsync(100);
    expect(await observe(sensor, 1000)).toEqual({ dutyCycle: 0, frequencyHz: 0, edges: 0 });
    firmware.dispose();
  });

  it('sees a covered sensor as dark and a flooded one as lit', async () => {
    const { firmware, photo, sensor } = setup();
    firmware.powerOn();
    await vi.advanceTimersByTimeAsync(100);
    photo.stuck('dark');
    await vi.advanceTimersByTimeAsync(10);
    expect((await observe(sensor, 600)).dutyCycle).toBe(0);
    photo.stuck('lit');
    await vi.advanceTimersByTimeAsync(10);
    expect((await observe(sensor, 600)).dutyCycle).toBe(1);
    firmware.dispose();
  });

  it('stops at once when the signal aborts', async () => {
    const { sensor } = setup();
    const controller = new AbortController();
    const reading = sensor.observe(10_000, controller.signal);
    const settled = vi.fn();
    reading.then(settled, settled);
    await vi.advanceTimersByTimeAsync(100);
    controller.abort(new Error('lid opened'));
    await expect(reading).rejects.toThrow('lid opened');
    expect(vi.getTimerCount()).toBe(0);
  });
});
