/**
 * The debug probe's station wiring (the `probe` section of the station config, whose schema in
 * config/station.ts is the one definition of its fields) translated into openocd 0.12
 * command-line arguments.
 */
import { chipFamily, type ChipFamily } from '../../core/chip-families.js';
import type { ProbeConfig } from '../../config/station.js';

export type { ProbeConfig };

export interface ProbeDeadlines {
  /** From spawn to a halted target (adapter init, scan chain, examine, reset halt). */
  openMs: number;
  /** Any single command without a size (reset, erase of a sector, lock, option read). */
  commandMs: number;
  /** Added per KiB written or read back; the sim writes at ~1.6 KiB/s over the debug port. */
  perKiBMs: number;
}

export const DEFAULT_DEADLINES: ProbeDeadlines = { openMs: 15_000, commandMs: 15_000, perKiBMs: 2_000 };

export function deadlinesOf(probe: Pick<ProbeConfig, 'deadlines'>): ProbeDeadlines {
  return { openMs: probe.deadlines.open_ms, commandMs: probe.deadlines.command_ms, perKiBMs: probe.deadlines.per_kib_ms };
}

/** The chip family named by a target script: "target/stm32f1x.cfg" → "stm32f1x". */
export function probeFamily(settings: Pick<ProbeConfig, 'target' | 'family'>): string {
  if (settings.family) return settings.family;
  const base = settings.target.split('/').pop() ?? settings.target;
  return base.replace(/\.cfg$/, '');
}

/**
 * The openocd flash driver whose commands serve a family, from the chip table (in 0.12 the
 * F2/F4/F7 share stm32f2x; F0/F1/F3 stm32f1x; L4/G0/G4/WB/WL stm32l4x; L0/L1 stm32lx; H7
 * stm32h7x). Throws ChipError for a family the table does not know.
 */
export function flashDriver(family: string): string {
  return chipFamily(family).driver;
}

/** The chip family the settings name (their `family`, else their target script), if the table knows it. */
export function knownFamily(settings: Pick<ProbeConfig, 'target' | 'family'>): ChipFamily | undefined {
  try {
    return chipFamily(probeFamily(settings));
  } catch {
    return undefined;
  }
}

/**
 * openocd arguments that select the adapter and target (configuration stage only; the driver adds
 * its own server settings). Each command is its own `-c`, so an error names the command.
 */
export function openocdArgs(settings: ProbeConfig): string[] {
  const cmds: string[] = [];
  const family = knownFamily(settings);
  if (family?.swdOnly && (settings.transport === 'jtag' || settings.kind === 'remote_bitbang')) {
    const how = settings.kind === 'remote_bitbang' ? "openocd 0.12's remote_bitbang speaks JTAG only, and" : 'transport jtag:';
    throw new RangeError(`${how} ${family.name} parts have no JTAG port (SWD only); use transport swd`);
  }
  const transport = settings.transport ?? 'swd';
  switch (settings.kind) {
    case 'stlink':
      // interface/stlink.cfg uses the hla driver, whose transports are named hla_swd / hla_jtag.
      cmds.push('source [find interface/stlink.cfg]', `transport select hla_${transport}`);
      break;
    case 'jlink':
      cmds.push('source [find interface/jlink.cfg]', `transport select ${transport}`);
      break;
    case 'cmsis-dap':
      cmds.push('source [find interface/cmsis-dap.cfg]', `transport select ${transport}`);
      break;
    case 'linuxgpiod':
    case 'bcm2835gpio': {
      cmds.push(`adapter driver ${settings.kind}`);
      if (settings.kind === 'bcm2835gpio') {
        if (settings.peripheral_base === undefined) throw new RangeError('bcm2835gpio needs peripheral_base (0x20000000, 0x3F000000 or 0xFE000000)');
        cmds.push(`bcm2835gpio peripheral_base 0x${settings.peripheral_base.toString(16)}`);
      }
      const pins: Partial<NonNullable<ProbeConfig['gpio']>> = settings.gpio ?? {};
      const required = transport === 'swd' ? (['swclk', 'swdio'] as const) : (['tck', 'tms', 'tdi', 'tdo'] as const);
      for (const name of required) if (pins[name] === undefined) throw new RangeError(`${settings.kind} over ${transport} needs gpio.${name}`);
      const chip = pins.chip ?? 0;
      for (const name of [...required, 'srst', 'trst'] as const) {
        const line = pins[name];
        if (line !== undefined) cmds.push(`adapter gpio ${name} ${line} -chip ${chip}`);
      }
      cmds.push(`transport select ${transport}`);
      break;
    }
    case 'remote_bitbang':
      // 0.12's remote_bitbang speaks JTAG only; a unix socket is given as host with port 0.
      if (settings.transport === 'swd') throw new RangeError('remote_bitbang in openocd 0.12 supports JTAG only');
      cmds.push('adapter driver remote_bitbang');
      {
        const rb = settings.remote_bitbang;
        if (!rb) throw new RangeError('remote_bitbang needs port or path');
        if ('path' in rb) cmds.push(`remote_bitbang host ${tclWord(rb.path)}`, 'remote_bitbang port 0');
        else cmds.push(`remote_bitbang host ${tclWord(rb.host)}`, `remote_bitbang port ${rb.port}`);
      }
      cmds.push('transport select jtag');
      break;
  }
  if (settings.serial !== undefined) cmds.push(`adapter serial ${tclWord(settings.serial)}`);
  if (settings.work_area_size !== undefined) cmds.push(`set WORKAREASIZE ${settings.work_area_size}`);
  cmds.push(`source [find ${tclWord(settings.target)}]`);
  if (settings.speed_khz !== undefined) cmds.push(`adapter speed ${settings.speed_khz}`);
  cmds.push(...settings.extra_commands);
  return cmds.flatMap((c) => ['-c', c]);
}

/** A Tcl word in braces; refuses characters that would let a value escape its braces. */
export function tclWord(value: string): string {
  if (/[{}\\\n\r\x1a]/.test(value)) throw new RangeError(`"${value}" contains a character not allowed in an openocd argument`);
  return `{${value}}`;
}
