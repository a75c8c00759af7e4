import { RDP_LEVEL0, type LockProof } from '../../core/chip-families.js';
import type { ProbeFailure } from './probe.js';

/**
 * What openocd 0.12 prints, turned into data. Two sources:
 * - the result of a command (what `command_print` collected: "wrote N bytes ...", "diff ..."),
 *   which the TCL RPC returns;
 * - its log on stderr ("Info :", "Warn :", "Error:" lines and `echo` output), which carries the
 *   reasons a command failed. `Warn :` lines are normal and never decide anything.
 */

/** Markers printed by openocd's `program` proc (startup.tcl) and by `init` on failure. */
export const MARKERS = {
  '** Programming Started **': 'programming-started',
  '** Programming Finished **': 'programming-finished',
  '** Verify Started **': 'verify-started',
  '** Verified OK **': 'verified',
  '** Verify Failed **': 'verify-failed',
  '** Programming Failed **': 'programming-failed',
  '** Resetting Target **': 'resetting',
  '** OpenOCD init failed **': 'init-failed',
} as const;

export type Marker = (typeof MARKERS)[keyof typeof MARKERS];

export function parseMarker(line: string): Marker | undefined {
  const m = /\*\* [A-Za-z ]+ \*\*/.exec(line);
  return m ? MARKERS[m[0] as keyof typeof MARKERS] : undefined;
}

/** "wrote 4096 bytes from file a.bin in 2.512s (1.592 KiB/s)" (flash write_image, flash write_bank). */
export function parseWrote(result: string): { bytes: number; seconds: number } | undefined {
  const m = /wrote (\d+) bytes (?:from file .* )?in ([\d.]+)s/.exec(result);
  return m ? { bytes: Number(m[1]), seconds: Number(m[2]) } : undefined;
}

/** "verified 4096 bytes in 0.118s (33.898 KiB/s)" (verify_image, only printed on success). */
export function parseVerified(result: string): { bytes: number; seconds: number } | undefined {
  const m = /verified (\d+) bytes (?:from file .* )?in ([\d.]+)s/.exec(result);
  return m ? { bytes: Number(m[1]), seconds: Number(m[2]) } : undefined;
}

/** "erased address 0x08000000 (length 4096) in 0.081s (49.3 KiB/s)" (flash erase_address). */
export function parseErased(result: string): { address: number; bytes: number; seconds: number } | undefined {
  const m = /erased address (0x[0-9a-fA-F]+) \(length (\d+)\) in ([\d.]+)s/.exec(result);
  return m ? { address: Number(m[1]), bytes: Number(m[2]), seconds: Number(m[3]) } : undefined;
}

export interface Difference {
  address: number;
  actual: number;
  expected: number;
}

/**
 * verify_image's byte compare: "diff 0 address 0x08000100. Was 0xe4 instead of 0xec", at most
 * 128 lines ("More than 128 errors, the rest are not printed.").
 */
export function parseDifferences(result: string): Difference[] {
  const out: Difference[] = [];
  for (const m of result.matchAll(/diff \d+ address (0x[0-9a-fA-F]+)\. Was (0x[0-9a-fA-F]+) instead of (0x[0-9a-fA-F]+)/g)) {
    out.push({ address: Number(m[1]), actual: Number(m[2]), expected: Number(m[3]) });
  }
  return out;
}

/** `<family> options_read 0` prints "read protection: on" or "read protection: off". */
export function parseReadProtection(result: string): boolean | undefined {
  const m = /read protection: (on|off)/.exec(result);
  return m ? m[1] === 'on' : undefined;
}

/** `stm32l4x option_read 0 0x20` / `stm32h7x option_read 0 0x1c`: "Option Register: <0x40022020> = 0xffeff8aa". */
export function parseOptionRegister(result: string): { address: number; value: number } | undefined {
  const m = /Option Register: <(0x[0-9a-fA-F]+)> = (0x[0-9a-fA-F]+)/.exec(result);
  return m ? { address: Number(m[1]), value: Number(m[2]) } : undefined;
}

/**
 * Whether the output of a family's lock-proof command (core/chip-families.ts) says read protection
 * is on: "read protection: on", or an RDP byte other than 0xAA (level 0) in the option register
 * that `option_read` printed or `read_memory ADDR 32 1` returned. Undefined when it says neither.
 */
export function readProtectionFrom(proof: LockProof, result: string): boolean | undefined {
  if (proof.kind === 'options_read') return parseReadProtection(result);
  let value: number | undefined;
  if (proof.kind === 'option_register') {
    const reg = parseOptionRegister(result);
    if (reg && reg.address !== proof.address) return undefined; // another register than the table's: prove nothing
    value = reg?.value;
  } else {
    const words = result.trim().split(/\s+/);
    if (words.length === 1 && /^(0x[0-9a-fA-F]+|\d+)$/.test(words[0]!)) value = Number(words[0]);
  }
  return value === undefined ? undefined : ((value >>> proof.shift) & 0xff) !== RDP_LEVEL0;
}

/** `flash info N sectors`: header "#0 : stm32f1x at 0x08000000, size 0x00010000, ..." then "\t#  0: 0x00000000 (0x400 1kB) ...". */
export function parseSectors(result: string): { address: number; size: number }[] {
  const base = /#\d+ : \S+ at (0x[0-9a-fA-F]+)/.exec(result);
  if (!base) return [];
  const origin = Number(base[1]);
  const out: { address: number; size: number }[] = [];
  for (const m of result.matchAll(/#\s*\d+: (0x[0-9a-fA-F]+) \((0x[0-9a-fA-F]+) /g)) {
    out.push({ address: origin + Number(m[1]), size: Number(m[2]) });
  }
  return out;
}

/** `read_memory ADDR 8 N` returns a Tcl list of numbers ("0x50 0x4a ..."). */
export function parseByteList(result: string, expected: number): Uint8Array | undefined {
  const words = result.trim().split(/\s+/).filter((w) => w.length > 0);
  if (words.length !== expected) return undefined;
  const out = new Uint8Array(expected);
  for (let i = 0; i < expected; i++) {
    const v = Number(words[i]);
    if (!Number.isInteger(v) || v < 0 || v > 0xff) return undefined;
    out[i] = v;
  }
  return out;
}

interface Rule {
  code: ProbeFailure;
  pattern: RegExp;
}

/**
 * Log lines that decide a failure, most specific first. The strings are openocd 0.12's own
 * (src/jtag/drivers/*, src/target/*, src/flash/nor/stm32f1x.c); see the table in the README.
 */
const RULES: readonly Rule[] = [
  // The adapter went away mid-run. remote_bitbang asserts (SIGABRT, shell status 134) when its
  // socket closes; USB probes report libusb errors.
  { code: 'CONNECTION_LOST', pattern: /Assertion .* failed/ },
  { code: 'CONNECTION_LOST', pattern: /Error on socket 'remote_bitbang_(?:flush|fill_buf)'|remote_bitbang: invalid read response/ },
  { code: 'CONNECTION_LOST', pattern: /LIBUSB_ERROR_(?:NO_DEVICE|IO|PIPE)|libusb_bulk_(?:write|read) error|jaylink_.*(?:failed|error)/i },
  // No adapter: USB probe absent, GPIO chip not available, nothing listening on the socket.
  { code: 'PROBE_NOT_FOUND', pattern: /No J-Link device found|ST-LINK open failed|Error: open failed|unable to find a matching CMSIS-DAP device|Failed to open device/ },
  { code: 'PROBE_NOT_FOUND', pattern: /Cannot open LinuxGPIOD chip|Error requesting gpio line|Error: open: |Error: mmap: /i },
  { code: 'PROBE_NOT_FOUND', pattern: /Error on socket 'Failed to connect'|Error on socket 'connect'|Connection refused|getaddrinfo: / },
  // openocd built without the adapter's driver (Debian's amd64 build has no bcm2835gpio).
  { code: 'PROBE_NOT_FOUND', pattern: /The specified debug interface was not found|Can't find interface\/|couldn't open .*interface/i },
  // The chip answers but its flash is read-out protected.
  { code: 'FLASH_PROTECTED', pattern: /device protected|read protection: on/ },
  // Adapter present, target silent or wrong: scan chain, DP, examine, halt.
  {
    code: 'TARGET_NOT_RESPONDING',
    pattern:
      /JTAG scan chain interrogation failed|IR capture error|UNEXPECTED idcode|Unexpected idcode|JTAG tap: .* tap\/device found: 0x00000000|init mode failed \(unable to connect to the target\)|Error connecting DP|Could not initialize the debug port|Invalid ACK|Examination failed|Target not examined|not examined yet|timed out while waiting for target halted|Target not halted|jtag status contains invalid mode value|Cannot identify target as a stm32|Failed to read memory|Failed to write memory|DP initialisation failed|Could not find MEM-AP/i,
  },
  { code: 'PROGRAM_FAILED', pattern: /flash write failed|programming failed|flash not erased|failed to erase|timed out waiting for flash|\*\* Programming Failed \*\*/i },
];

export interface FailureInput {
  /** Log lines of the failing command (or of the whole run when the process ended). */
  lines: readonly string[];
  /** The command's RPC result text, if any. */
  result?: string;
  /** How the process ended, if it did. */
  exit?: { code: number | null; signal: string | null };
}

export interface Classification {
  code: ProbeFailure;
  /** The line that decided it (or a description of the exit). */
  evidence: string;
  /** False when nothing recognisable was found and `code` is only the default. */
  matched: boolean;
  /** The first `Error:` line, for the message when no rule matched. */
  firstError?: string;
}

/** Decide the reason code of a failure: exit status first, then the first matching line. */
export function classifyFailure(input: FailureInput): Classification {
  const text = [...input.lines, ...(input.result ? input.result.split('\n') : [])];
  const firstError = text.find((l) => /^Error:?/.test(l));
  const withFirst = (c: Omit<Classification, 'firstError'>): Classification => (firstError ? { ...c, firstError } : c);
  if (input.exit && (input.exit.code === 134 || input.exit.signal === 'SIGABRT')) {
    return withFirst({ code: 'CONNECTION_LOST', evidence: `openocd aborted (${input.exit.signal ?? `exit ${input.exit.code}`})`, matched: true });
  }
  const diffs = input.result ? parseDifferences(input.result) : [];
  if (diffs.length > 0) {
    const first = diffs.reduce((a, b) => (b.address < a.address ? b : a));
    return withFirst({ code: 'VERIFY_FAILED', evidence: `first difference at 0x${first.address.toString(16).padStart(8, '0')}`, matched: true });
  }
  for (const rule of RULES) {
    const line = text.find((l) => !l.startsWith('Warn') && rule.pattern.test(l));
    if (line) return withFirst({ code: rule.code, evidence: line.trim(), matched: true });
  }
  const ended = input.exit ? `openocd exited (${input.exit.signal ?? `exit code ${input.exit.code}`})` : undefined;
  return withFirst({ code: 'PROGRAM_FAILED', evidence: firstError?.trim() ?? ended ?? 'failed without an error line', matched: false });
}
