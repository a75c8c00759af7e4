import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DutFirmware } from '../../../src/sim/firmware/dut-firmware.js';
import { DEMO, UNIT, simFirmware, simFlash } from '../../helpers/functional-context.js';

/** The firmware with its UART output collected as lines. */
function dut(flash: Uint8Array, options: Parameters<typeof simFirmware>[1] = {}) {
  const firmware = simFirmware(flash, options);
  let rx = '';
  firmware.onTransmit((data) => (rx += Buffer.from(data).toString('latin1')));
  const lines = (): string[] => rx.split('\r\n').slice(0, -1);
  const ask = async (command: string): Promise<string | undefined> => {
    const before = lines().length;
    firmware.receive(Buffer.from(`${command}\r`));
    await vi.advanceTimersByTimeAsync(10);
    return lines()[before];
  };
  return { firmware, lines, ask };
}

async function boot(firmware: DutFirmware): Promise<void> {
  firmware.powerOn();
  await vi.advanceTimersByTimeAsync(100);
}

describe('DutFirmware', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('boots a recognised image after the boot delay, prints its banner and lights its LEDs', async () => {
    const { firmware, lines } = dut(simFlash({ firmware: DEMO }));
    expect(firmware.supplyCurrentMa()).toBe(0);
    firmware.powerOn();
    expect(firmware.state).toBe('booting');
    expect(firmware.supplyCurrentMa()).toBe(3);
    await vi.advanceTimersByTimeAsync(80);
    expect(firmware.state).toBe('running');
    expect(lines()).toEqual(['PIJIG-SIM demo fw=1.2.0']);
    expect(firmware.ledState('pwr')).toEqual({ mode: 'on', hz: 0, lit: true });
    expect(firmware.ledState('status')).toEqual({ mode: 'blink', hz: 2, lit: true });
    expect(firmware.supplyCurrentMa()).toBe(35); // 25 running + 2 LEDs × 5
    await vi.advanceTimersByTimeAsync(250);
    expect(firmware.ledLit('status')).toBe(false);
    expect(firmware.supplyCurrentMa()).toBe(30);
    firmware.dispose();
  });

  it.each([
    ['blank', simFlash()],
    ['foreign', simFlash({ foreign: true })],
  ])('stays silent on %s flash and draws only idle current', async (_name, flash) => {
    const { firmware, lines, ask } = dut(flash);
    await boot(firmware);
    expect(firmware.state).toBe('idle');
    expect(await ask('version')).toBeUndefined();
    expect(lines()).toEqual([]);
    expect(firmware.supplyCurrentMa()).toBe(4);
    expect(firmware.ledLit('pwr')).toBe(false);
    firmware.dispose();
  });

  it('does not boot firmware built for another product', async () => {
    const { firmware, lines } = dut(simFlash({ firmware: DEMO }), { expected: { product: 'other-board' } });
    await boot(firmware);
    expect(firmware.state).toBe('idle');
    expect(lines()).toEqual([]);
    firmware.dispose();
  });

  it('answers its command set', async () => {
    const { firmware, ask } = dut(simFlash({ firmware: DEMO, identity: UNIT }), { temperatureC: () => 31.25 });
    await boot(firmware);
    expect(await ask('version')).toBe('fw=1.2.0');
    expect(await ask('id')).toBe('sn=PJ0000042 mac=02:00:00:00:00:2a');
    expect(await ask('temp')).toBe('temp=31.3');
    expect(await ask('help')).toMatch(/^commands: help version id temp led/);
    expect(await ask('led status blink 5')).toBe('ok');
    expect(firmware.ledState('status')).toMatchObject({ mode: 'blink', hz: 5 });
    expect(await ask('led status off')).toBe('ok');
    expect(firmware.ledState('status')).toEqual({ mode: 'off', hz: 0, lit: false });
    expect(await ask('led nope on')).toBe('err unknown led: nope (have pwr, status)');
    expect(await ask('led status blink 0')).toMatch(/^err blink frequency/);
    expect(await ask('reboot')).toBe('err unknown command: reboot');
    firmware.dispose();
  });

  it('reports no identity before a record is written, and sees one written later', async () => {
    const flash = simFlash({ firmware: DEMO });
    const { firmware, ask } = dut(flash);
    await boot(firmware);
    expect(await ask('id')).toBe('sn=none mac=none');
    flash.set(simFlash({ identity: UNIT }).subarray(0xfc00, 0xfc40), 0xfc00);
    expect(await ask('id')).toBe('sn=PJ0000042 mac=02:00:00:00:00:2a');
    firmware.dispose();
  });

  it('assembles command lines split across UART chunks', async () => {
    const { firmware, lines } = dut(simFlash({ firmware: DEMO }));
    await boot(firmware);
    firmware.receive(Buffer.from('ver'));
    firmware.receive(Buffer.from('sion\r\n'));
    await vi.advanceTimersByTimeAsync(10);
    expect(lines().slice(1)).toEqual(['fw=1.2.0']);
    firmware.dispose();
  });

  it('goes dark and silent on power off, and boots again on reset', async () => {
    const { firmware, lines, ask } = dut(simFlash({ firmware: DEMO }));
    await boot(firmware);
    firmware.powerOff();
    expect(firmware.supplyCurrentMa()).toBe(0);
    expect(firmware.ledLit('pwr')).toBe(false);
    expect(await ask('version')).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    firmware.reset(); // no effect without power
    expect(firmware.state).toBe('off');
    await boot(firmware);
    firmware.reset();
    await vi.advanceTimersByTimeAsync(100);
    expect(lines().filter((l) => l.startsWith('PIJIG-SIM'))).toHaveLength(3); // first boot, power on again, reset
    firmware.dispose();
  });

  it('freezes when the debugger halts the core', async () => {
    const { firmware, ask } = dut(simFlash({ firmware: DEMO }));
    await boot(firmware);
    firmware.halt();
    const lit = firmware.ledLit('status');
    await vi.advanceTimersByTimeAsync(1000);
    expect(firmware.ledLit('status')).toBe(lit);
    expect(await ask('version')).toBeUndefined();
    firmware.dispose();
  });

  it('emits LED changes for the simulated light sensors', async () => {
    const { firmware } = dut(simFlash({ firmware: DEMO }));
    const changes: string[] = [];
    firmware.onLedChange((name, lit) => changes.push(`${name}:${lit ? 1 : 0}`));
    await boot(firmware);
    await vi.advanceTimersByTimeAsync(500);
    expect(changes).toEqual(['pwr:1', 'status:1', 'status:0', 'status:1']);
    firmware.dispose();
  });

  describe('fault injection', () => {
    it('overcurrent and undercurrent', async () => {
      const { firmware, ask } = dut(simFlash({ firmware: DEMO }));
      await boot(firmware);
      await ask('led status on');
      firmware.inject({ extraCurrentMa: 120 });
      expect(firmware.supplyCurrentMa()).toBe(155);
      firmware.inject({ extraCurrentMa: -20 });
      expect(firmware.supplyCurrentMa()).toBe(15);
      firmware.clearFaults();
      expect(firmware.supplyCurrentMa()).toBe(35);
      firmware.dispose();
    });

    it('an LED that stays dark draws no current and emits no light', async () => {
      const { firmware, ask } = dut(simFlash({ firmware: DEMO }));
      await boot(firmware);
      await ask('led status on');
      const changes: string[] = [];
      firmware.onLedChange((name, lit) => changes.push(`${name}:${lit ? 1 : 0}`));
      firmware.inject({ darkLeds: ['status'] });
      expect(changes).toEqual(['status:0']);
      expect(firmware.ledState('status')).toEqual({ mode: 'on', hz: 0, lit: false });
      expect(firmware.supplyCurrentMa()).toBe(30);
      firmware.dispose();
    });

    it('a wrong LED colour', () => {
      const { firmware } = dut(simFlash({ firmware: DEMO }));
      expect(firmware.ledColour('status')).toEqual({ r: 0, g: 255, b: 0 });
      firmware.inject({ ledColours: { status: { r: 255, g: 120, b: 0 } } });
      expect(firmware.ledColour('status')).toEqual({ r: 255, g: 120, b: 0 });
    });

    it('a console that never answers', async () => {
      const { firmware, lines, ask } = dut(simFlash({ firmware: DEMO }));
      firmware.inject({ consoleMute: true });
      await boot(firmware);
      expect(firmware.state).toBe('running');
      expect(await ask('version')).toBeUndefined();
      expect(lines()).toEqual([]);
      firmware.dispose();
    });

    it('a reported version and serial that differ from the image and the record', async () => {
      const { firmware, lines, ask } = dut(simFlash({ firmware: DEMO, identity: UNIT }));
      firmware.inject({ reportedVersion: '1.1.9', reportedSerial: 'PJ0000043' });
      await boot(firmware);
      expect(lines()[0]).toBe('PIJIG-SIM demo fw=1.1.9');
      expect(await ask('version')).toBe('fw=1.1.9');
      expect(await ask('id')).toBe('sn=PJ0000043 mac=02:00:00:00:00:2a');
      expect(firmware.firmware).toEqual(DEMO); // what is really in flash
      firmware.dispose();
    });
  });
});
