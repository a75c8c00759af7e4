import { describe, expect, it } from 'vitest';
import { openocdProbe } from '../../../src/devices/probe/openocd.js';
import { flashDriver, openocdArgs as argsOf, probeFamily } from '../../../src/devices/probe/probe-config.js';
import { probeSchema } from '../../../src/config/station.js';

/** The station config's probe section, validated and defaulted as at start-up. */
const openocdArgs = (probe: Record<string, unknown>): string[] => argsOf(probeSchema.parse(probe));

const commands = (args: string[]): string[] => args.filter((_, i) => i % 2 === 1);

describe('probe settings to openocd arguments', () => {
  it('stlink over SWD with a serial and a speed', () => {
    const args = openocdArgs({ kind: 'stlink', target: 'target/stm32f1x.cfg', transport: 'swd', serial: '066DFF', speed_khz: 4000 });
    expect(args.filter((_, i) => i % 2 === 0).every((a) => a === '-c')).toBe(true);
    expect(commands(args)).toEqual(['source [find interface/stlink.cfg]', 'transport select hla_swd', 'adapter serial {066DFF}', 'source [find {target/stm32f1x.cfg}]', 'adapter speed 4000']);
  });

  it('jlink and cmsis-dap', () => {
    expect(commands(openocdArgs({ kind: 'jlink', target: 'target/stm32f4x.cfg', transport: 'swd' }))).toEqual(['source [find interface/jlink.cfg]', 'transport select swd', 'source [find {target/stm32f4x.cfg}]']);
    expect(commands(openocdArgs({ kind: 'cmsis-dap', target: 'target/stm32f1x.cfg', extra_commands: ['reset_config srst_only'] }))).toEqual([
      'source [find interface/cmsis-dap.cfg]',
      'transport select swd',
      'source [find {target/stm32f1x.cfg}]',
      'reset_config srst_only',
    ]);
  });

  it('defaults every USB probe to SWD (openocd alone picks JTAG for a J-Link)', () => {
    expect(commands(openocdArgs({ kind: 'jlink', target: 'target/stm32g0x.cfg' }))).toContain('transport select swd');
    expect(commands(openocdArgs({ kind: 'cmsis-dap', target: 'target/stm32l4x.cfg' }))).toContain('transport select swd');
    expect(commands(openocdArgs({ kind: 'stlink', target: 'target/stm32f4x.cfg' }))).toContain('transport select hla_swd');
    expect(commands(openocdArgs({ kind: 'jlink', target: 'target/stm32f4x.cfg', transport: 'jtag' }))).toContain('transport select jtag');
  });

  it('the Pi GPIO adapters', () => {
    expect(commands(openocdArgs({ kind: 'linuxgpiod', target: 'target/stm32f1x.cfg', gpio: { chip: 4, swclk: 25, swdio: 24, srst: 18 } }))).toEqual([
      'adapter driver linuxgpiod',
      'adapter gpio swclk 25 -chip 4',
      'adapter gpio swdio 24 -chip 4',
      'adapter gpio srst 18 -chip 4',
      'transport select swd',
      'source [find {target/stm32f1x.cfg}]',
    ]);
    expect(commands(openocdArgs({ kind: 'bcm2835gpio', target: 'target/stm32f1x.cfg', peripheral_base: 0xfe000000, gpio: { swclk: 25, swdio: 24 } })).slice(0, 2)).toEqual([
      'adapter driver bcm2835gpio',
      'bcm2835gpio peripheral_base 0xfe000000',
    ]);
    expect(() => openocdArgs({ kind: 'linuxgpiod', target: 'target/stm32f1x.cfg', gpio: { swclk: 25 } })).toThrow(/gpio.swdio/);
    expect(() => openocdArgs({ kind: 'bcm2835gpio', target: 'target/stm32f1x.cfg', gpio: { swclk: 1, swdio: 2 } })).toThrow(/peripheral_base/);
  });

  it('remote_bitbang over TCP or a unix socket, JTAG only', () => {
    expect(commands(openocdArgs({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { port: 5555 }, work_area_size: 0 }))).toEqual([
      'adapter driver remote_bitbang',
      'remote_bitbang host {127.0.0.1}',
      'remote_bitbang port 5555',
      'transport select jtag',
      'set WORKAREASIZE 0',
      'source [find {target/stm32f1x.cfg}]',
    ]);
    expect(commands(openocdArgs({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { path: '/run/pijig/dut.sock' } })).slice(1, 3)).toEqual(['remote_bitbang host {/run/pijig/dut.sock}', 'remote_bitbang port 0']);
    expect(() => openocdArgs({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { port: 1 }, transport: 'swd' })).toThrow(/JTAG only/);
  });

  it('refuses values that would escape their Tcl word', () => {
    expect(() => openocdArgs({ kind: 'stlink', target: 'target/stm32f1x.cfg', serial: 'x}; shutdown; {' })).toThrow(/not allowed/);
  });

  it('names the family and the flash driver that serves it, from the chip table', () => {
    expect(probeFamily({ target: 'target/stm32f1x.cfg' })).toBe('stm32f1x');
    expect(probeFamily({ target: 'target/stm32f4x.cfg', family: 'stm32f4x' })).toBe('stm32f4x');
    expect(flashDriver('stm32f1x')).toBe('stm32f1x');
    expect(flashDriver('stm32f4x')).toBe('stm32f2x'); // 0.12 has no "stm32f4x lock"
    const drivers = Object.fromEntries(['stm32f0x', 'stm32f3x', 'stm32f7x', 'stm32g0x', 'stm32g4x', 'stm32l4x', 'stm32wbx', 'stm32wlx', 'stm32l0', 'stm32l1', 'stm32h7x', 'stm32xl', 'stm32h7x_dual_bank'].map((f) => [f, flashDriver(f)]));
    expect(drivers).toEqual({
      stm32f0x: 'stm32f1x', stm32f3x: 'stm32f1x', stm32f7x: 'stm32f2x', stm32g0x: 'stm32l4x', stm32g4x: 'stm32l4x', stm32l4x: 'stm32l4x', stm32wbx: 'stm32l4x',
      stm32wlx: 'stm32l4x', stm32l0: 'stm32lx', stm32l1: 'stm32lx', stm32h7x: 'stm32h7x', stm32xl: 'stm32f1x', stm32h7x_dual_bank: 'stm32h7x',
    });
  });

  it('refuses a family the chip table does not know, before any unit', () => {
    expect(() => flashDriver('stm32u5x')).toThrow(/not a chip family pijig knows/);
    expect(() => openocdProbe(probeSchema.parse({ kind: 'stlink', target: 'target/stm32u5x.cfg' }))).toThrow(/not a chip family pijig knows/);
    expect(() => openocdProbe(probeSchema.parse({ kind: 'stlink', target: 'boards/my-board.cfg', family: 'stm32g0' }))).not.toThrow();
  });
});
