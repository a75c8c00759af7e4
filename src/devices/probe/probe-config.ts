import { chipFamily, type ChipFamily } from '../../core/chip-families.js';

/**
 * Station wiring for the debug probe, and its translation into openocd 0.12 command-line
 * arguments. The station-config schema is written from `ProbeSettings`; keep them in step.
 */

/** GPIO lines of a Pi-GPIO adapter (linuxgpiod: line offsets on `chip`; bcm2835gpio: BCM numbers). */
export interface ProbeGpioPins {
  /** gpiochip number (`/dev/gpiochipN`); 0 on a Pi 1-4, the RP1's chip on a Pi 5. Default 0. */
  chip?: number;
  /** SWD clock and data (transport 'swd'). */
  swclk?: number;
  swdio?: number;
  /** JTAG lines (transport 'jtag'). */
  tck?: number;
  tms?: number;
  tdi?: number;
  tdo?: number;
  /** Optional reset lines; srst drives the DUT's NRST. */
  srst?: number;
  trst?: number;
}

export interface ProbeSettings {
  /** The adapter openocd drives: a USB probe, the Pi's own GPIO, or a remote_bitbang socket (the virtual jig). */
  kind: 'stlink' | 'jlink' | 'cmsis-dap' | 'linuxgpiod' | 'bcm2835gpio' | 'remote_bitbang';
  /** openocd target script, relative to its scripts dir, e.g. "target/stm32f1x.cfg". */
  target: string;
  /** Chip family for lock/option-byte commands ("stm32g0", "stm32f4x"); default: the target script's. See core/chip-families.ts. */
  family?: string;
  /** Adapter clock in kHz (`adapter speed`); default: what the target script sets. */
  speedKhz?: number;
  /**
   * Debug transport; default SWD for every adapter but remote_bitbang (openocd 0.12's is JTAG only).
   * Left to itself openocd picks JTAG for a J-Link, which SWD-only parts (F0, G0, L0) never answer.
   */
  transport?: 'swd' | 'jtag';
  /** Probe serial number, to pick one of several probes (`adapter serial`). */
  serial?: string;
  /** Pins of a Pi-GPIO adapter (linuxgpiod, bcm2835gpio). */
  gpio?: ProbeGpioPins;
  /** bcm2835gpio only: peripheral base, 0x20000000 (Pi 1/Zero), 0x3F000000 (Pi 2/3), 0xFE000000 (Pi 4). */
  peripheralBase?: number;
  /** remote_bitbang: TCP host (default 127.0.0.1) and port, or a unix socket path instead of a port. */
  host?: string;
  port?: number;
  path?: string;
  /**
   * `WORKAREASIZE` for the target script. 0 makes openocd write flash one half-word at a time over
   * the debug port (the simulated DUT executes no code, so it needs 0); unset keeps the script's
   * default, which runs openocd's fast on-target flash loader.
   */
  workAreaSize?: number;
  /** openocd commands run before init, after the adapter and target (e.g. "reset_config srst_only"). */
  extraCommands?: string[];
  /** Deadlines (ms). Every openocd run ends in SIGKILL at its deadline: 0.12 can hang ignoring SIGTERM. */
  deadlines?: ProbeDeadlines;
}

export interface ProbeDeadlines {
  /** From spawn to a halted target (adapter init, scan chain, examine, reset halt). Default 15000. */
  openMs?: number;
  /** Any single command without a size (reset, erase of a sector, lock, option read). Default 15000. */
  commandMs?: number;
  /** Added per KiB written or read back; the sim writes at ~1.6 KiB/s over the debug port. Default 2000. */
  perKiBMs?: number;
}

export const DEFAULT_DEADLINES: Required<ProbeDeadlines> = { openMs: 15_000, commandMs: 15_000, perKiBMs: 2_000 };

/** The chip family named by a target script: "target/stm32f1x.cfg" → "stm32f1x". */
export function probeFamily(settings: Pick<ProbeSettings, 'target' | 'family'>): string {
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
export function knownFamily(settings: Pick<ProbeSettings, 'target' | 'family'>): ChipFamily | undefined {
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
export function openocdArgs(settings: ProbeSettings): string[] {
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
        if (settings.peripheralBase === undefined) throw new RangeError('bcm2835gpio needs peripheralBase (0x20000000, 0x3F000000 or 0xFE000000)');
        cmds.push(`bcm2835gpio peripheral_base 0x${settings.peripheralBase.toString(16)}`);
      }
      const pins = settings.gpio ?? {};
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
      if (settings.path !== undefined) {
        cmds.push(`remote_bitbang host ${tclWord(settings.path)}`, 'remote_bitbang port 0');
      } else {
        if (settings.port === undefined) throw new RangeError('remote_bitbang needs port or path');
        cmds.push(`remote_bitbang host ${tclWord(settings.host ?? '127.0.0.1')}`, `remote_bitbang port ${settings.port}`);
      }
      cmds.push('transport select jtag');
      break;
  }
  if (settings.serial !== undefined) cmds.push(`adapter serial ${tclWord(settings.serial)}`);
  if (settings.workAreaSize !== undefined) cmds.push(`set WORKAREASIZE ${settings.workAreaSize}`);
  cmds.push(`source [find ${tclWord(settings.target)}]`);
  if (settings.speedKhz !== undefined) cmds.push(`adapter speed ${settings.speedKhz}`);
  cmds.push(...(settings.extraCommands ?? []));
  return cmds.flatMap((c) => ['-c', c]);
}

/** A Tcl word in braces; refuses characters that would let a value escape its braces. */
export function tclWord(value: string): string {
  if (/[{}\\\n\r\x1a]/.test(value)) throw new RangeError(`"${value}" contains a character not allowed in an openocd argument`);
  return `{${value}}`;
}
