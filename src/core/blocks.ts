import { PijigError } from './errors.js';
import { formatMac, parseMac } from './identity.js';

/**
 * Identity blocks as numeric ranges. A serial number is a prefix and a fixed-width decimal
 * number ("WG" + 000042); a MAC is a 48-bit integer. Numbers are BigInt throughout, so a block
 * near 2^53 (or with 20 digits) never rounds two numbers into one.
 */
export interface SerialRange {
  kind: 'serial';
  prefix: string;
  /** Zero-padded width of the number part. */
  digits: number;
  first: bigint;
  count: bigint;
}

export interface MacRange {
  kind: 'mac';
  first: bigint;
  count: bigint;
}

export type IdRange = SerialRange | MacRange;

/** The serial and MAC ranges one station numbers its units from. */
export interface IdentityBlock {
  serial: SerialRange;
  mac: MacRange;
}

export type BlockErrorCode = 'BLOCK_INVALID' | 'BLOCK_OVERLAP';

export class BlockError extends PijigError<BlockErrorCode> {}

const MAC_MAX = (1n << 48n) - 1n;
/** The I/G bit (group address) is bit 0 of the first octet, i.e. bit 40 of the 48-bit value. */
const IG_BIT = 1n << 40n;

export function serialRange(prefix: string, digits: number, first: bigint | number, count: bigint | number): SerialRange {
  return { kind: 'serial', prefix, digits, first: BigInt(first), count: BigInt(count) };
}

export function macRange(first: string | bigint, count: bigint | number): MacRange {
  return { kind: 'mac', first: typeof first === 'string' ? macValue(first) : first, count: BigInt(count) };
}

export function macValue(mac: string): bigint {
  let v = 0n;
  for (const b of parseMac(mac)) v = (v << 8n) | BigInt(b);
  return v;
}

export function macText(value: bigint): string {
  const bytes = new Uint8Array(6);
  let v = value;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatMac(bytes);
}

export function lastOf(r: IdRange): bigint {
  return r.first + r.count - 1n;
}

/** The n-th value's text: "WG000042" or "02:50:4a:00:00:2a". */
export function valueText(r: IdRange, n: bigint): string {
  return r.kind === 'mac' ? macText(n) : `${r.prefix}${n.toString().padStart(r.digits, '0')}`;
}

/** "serial WG000001..WG000100 (100)" or "MAC 02:50:4a:00:00:01..02:50:4a:00:00:64 (100)". */
export function describeRange(r: IdRange): string {
  return `${r.kind === 'mac' ? 'MAC' : 'serial'} ${valueText(r, r.first)}..${valueText(r, lastOf(r))} (${r.count})`;
}

/** Why a range cannot be used, or undefined. */
export function rangeProblem(r: IdRange): string | undefined {
  if (r.count < 1n) return 'count must be at least 1';
  if (r.first < 0n) return 'the first number must not be negative';
  const last = lastOf(r);
  if (r.kind === 'serial') {
    if (!/^[A-Za-z0-9_-]{0,24}$/.test(r.prefix)) return `prefix "${r.prefix}" must be up to 24 letters, digits, "_" or "-"`;
    if (!Number.isInteger(r.digits) || r.digits < 1 || r.digits > 20) return 'digits must be 1..20';
    if (last >= 10n ** BigInt(r.digits)) return `${r.prefix}${last} has more than ${r.digits} digits: the block does not fit its fixed width`;
    return undefined;
  }
  if (last > MAC_MAX) return `${macText(r.first)} + ${r.count} runs past ff:ff:ff:ff:ff:ff (a MAC block must not wrap)`;
  if (r.first === 0n) return '00:00:00:00:00:00 is not a usable MAC';
  // Every MAC of the block must be unicast: the whole block in one even first octet.
  if ((r.first & IG_BIT) !== 0n) return `${macText(r.first)} is a group (multicast) address: the first octet's lowest bit (I/G) must be 0`;
  if (r.first >> 40n !== last >> 40n) return `the block crosses into first octet ${macText(last).slice(0, 2)}, a group (multicast) address (or broadcast ff:ff:ff:ff:ff:ff)`;
  return undefined;
}

export function checkRange(r: IdRange, where: string): void {
  const problem = rangeProblem(r);
  if (problem) throw new BlockError('BLOCK_INVALID', `${where}: ${describeSafe(r)}: ${problem}`, { details: { field: where } });
}

function describeSafe(r: IdRange): string {
  try {
    return describeRange(r);
  } catch {
    return r.kind;
  }
}

/**
 * Where a serial string sits in a range's numbering, or undefined when the string is not of the
 * range's form. The number may lie outside the range (callers compare it with first/last).
 */
export function serialNumberIn(r: SerialRange, serial: string): bigint | undefined {
  if (!serial.startsWith(r.prefix)) return undefined;
  const digits = serial.slice(r.prefix.length);
  if (digits.length !== r.digits || !/^\d+$/.test(digits)) return undefined;
  return BigInt(digits);
}

/**
 * A serial range as an interval in another range's numbering: the strings P + pad(n, D) of two
 * ranges can only be equal when their total widths match and one prefix extends the other by
 * digits (WG0 + 00042 = WG + 000042).
 */
function serialIntervalIn(base: SerialRange, other: SerialRange): [bigint, bigint] | undefined {
  if (base.prefix.length + base.digits !== other.prefix.length + other.digits) return undefined;
  if (!other.prefix.startsWith(base.prefix)) return undefined;
  const extra = other.prefix.slice(base.prefix.length);
  if (!/^\d*$/.test(extra)) return undefined;
  const offset = extra ? BigInt(extra) * 10n ** BigInt(other.digits) : 0n;
  return [offset + other.first, offset + lastOf(other)];
}

/** True when the two ranges share at least one serial number or MAC. */
export function rangesOverlap(a: IdRange, b: IdRange): boolean {
  if (a.kind !== b.kind) return false;
  let x: [bigint, bigint];
  let y: [bigint, bigint] | undefined;
  if (a.kind === 'mac') {
    x = [a.first, lastOf(a)];
    y = [b.first, lastOf(b)];
  } else {
    const s = b as SerialRange;
    const [base, other] = a.prefix.length <= s.prefix.length ? [a, s] : [s, a];
    x = [base.first, lastOf(base)];
    y = serialIntervalIn(base, other);
  }
  return y !== undefined && x[0] <= y[1] && y[0] <= x[1];
}

/** Same block, possibly extended (or shortened): same kind, form and first number. */
export function sameBlock(a: IdRange, b: IdRange): boolean {
  if (a.kind !== b.kind || a.first !== b.first) return false;
  return a.kind === 'mac' || (a.prefix === (b as SerialRange).prefix && a.digits === (b as SerialRange).digits);
}

/**
 * Refuse `candidate` when it overlaps a range in `used` that is not the same block (an extended
 * block continues after the last number issued; a block that starts inside another never).
 */
export function checkOverlap(candidate: IdRange, used: readonly { range: IdRange; source: string }[], candidateSource: string, opts: { sameBlockAllowed?: boolean } = {}): void {
  for (const u of used) {
    if ((opts.sameBlockAllowed ?? true) && sameBlock(candidate, u.range)) continue;
    if (rangesOverlap(candidate, u.range)) {
      throw new BlockError('BLOCK_OVERLAP', `${candidateSource}: ${describeRange(candidate)} overlaps ${describeRange(u.range)} (${u.source})`, {
        details: { range: describeRange(candidate), other: describeRange(u.range), otherSource: u.source },
      });
    }
  }
}

/** A range as JSON-safe text (numbers as decimal strings). */
export interface RangeJson {
  kind: 'serial' | 'mac';
  prefix?: string;
  digits?: number;
  first: string;
  count: string;
}

export function rangeToJson(r: IdRange): RangeJson {
  return r.kind === 'serial'
    ? { kind: 'serial', prefix: r.prefix, digits: r.digits, first: r.first.toString(), count: r.count.toString() }
    : { kind: 'mac', first: macText(r.first), count: r.count.toString() };
}

export function rangeFromJson(j: RangeJson): IdRange {
  return j.kind === 'serial' ? serialRange(j.prefix ?? '', j.digits ?? 6, BigInt(j.first), BigInt(j.count)) : macRange(j.first, BigInt(j.count));
}
