import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { Debouncer } from '../../../src/devices/gpio/debounce.js';
import { SimGpioChip } from '../../../src/devices/gpio/gpio.sim.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('debounce', () => {
  it('accepts a level only after it has been stable for the debounce time', () => {
    const seen: boolean[] = [];
    const d = new Debouncer(false, 20, (l) => seen.push(l));
    d.feed(true);
    vi.advanceTimersByTime(19);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([true]);
    expect(d.level).toBe(true);
  });

  it('swallows bounces shorter than the debounce time, however many', () => {
    const seen: boolean[] = [];
    const d = new Debouncer(false, 20, (l) => seen.push(l));
    for (let i = 0; i < 10; i++) {
      d.feed(true);
      vi.advanceTimersByTime(5);
      d.feed(false);
      vi.advanceTimersByTime(5);
    }
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([]);
    // contact bounce on a real press: settles high
    d.feed(true);
    vi.advanceTimersByTime(2);
    d.feed(false);
    vi.advanceTimersByTime(2);
    d.feed(true);
    vi.advanceTimersByTime(20);
    expect(seen).toEqual([true]);
  });

  it('passes every change at once with a debounce of 0', () => {
    const seen: boolean[] = [];
    const d = new Debouncer(false, 0, (l) => seen.push(l));
    d.feed(true);
    d.feed(false);
    expect(seen).toEqual([true, false]);
  });

  it('applies active-low polarity and debounce on the simulated chip like the real adapter', async () => {
    const chip = new SimGpioChip();
    const start = await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' });
    expect(start.active).toBe(false); // pulled up, not pressed
    const seen: boolean[] = [];
    start.onChange((a) => seen.push(a));
    chip.setLevel(17, false); // pressed: pulled to ground
    vi.advanceTimersByTime(20);
    chip.setLevel(17, true);
    vi.advanceTimersByTime(20);
    expect(seen).toEqual([true, false]);
    const relay = await chip.output({ name: 'relay', line: 5, activeLow: true });
    expect(chip.level(5)).toBe(true); // inactive = high for an active-low relay driver
    await relay.set(true);
    expect(chip.level(5)).toBe(false);
    await expect(chip.input({ name: 'again', line: 17, activeLow: false, debounceMs: 0 })).rejects.toThrow(/GPIO 17 \(again\) is already claimed by start/);
    await chip.close();
    expect(chip.level(5)).toBe(true);
  });
});
