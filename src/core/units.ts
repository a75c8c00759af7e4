/**
 * Units of measurements and limits. A limit may be written in another unit of the same quantity
 * as its measurement (`max: 0.06, unit: A` on a current measured in mA); the station converts the
 * limit into the measurement's unit before judging. Units of different quantities (V against mA)
 * cannot be compared: the plan is refused at load. Units pijig does not know ("°C", "rpm") compare
 * by their exact spelling.
 */

/** Base units that take SI prefixes. */
const BASES = ['A', 'V', 'W', 'Hz', 's', 'B', 'Ω', 'ohm'] as const;
/** Powers of ten of the SI prefixes pijig reads (u and µ both mean micro). */
const PREFIXES: Record<string, number> = { n: -9, u: -6, µ: -6, μ: -6, m: -3, '': 0, k: 3, M: 6 };

interface ParsedUnit {
  base: string;
  exp: number;
}

export function parseUnit(unit: string): ParsedUnit | undefined {
  for (const base of BASES) {
    if (!unit.endsWith(base)) continue;
    const prefix = unit.slice(0, unit.length - base.length);
    const exp = PREFIXES[prefix];
    if (exp !== undefined && Object.hasOwn(PREFIXES, prefix)) return { base: base === 'ohm' ? 'Ω' : base, exp };
  }
  return undefined;
}

/** True when a value in `from` can be expressed in `to`. */
export function unitsCompatible(from: string, to: string): boolean {
  return convertUnit(1, from, to) !== undefined;
}

/** `value` in `from`, expressed in `to`; undefined when the two are not the same quantity. */
export function convertUnit(value: number, from: string, to: string): number | undefined {
  if (from === to) return value;
  const a = parseUnit(from);
  const b = parseUnit(to);
  if (!a || !b || a.base !== b.base) return undefined;
  // 12 significant digits: 0.0302 A is 30.2 mA, not 30.199999999999996.
  return Number((value * 10 ** (a.exp - b.exp)).toPrecision(12));
}
