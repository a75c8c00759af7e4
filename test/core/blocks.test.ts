import { describe, expect, it } from 'vitest';
import { BlockError, checkOverlap, describeRange, macRange, rangeProblem, rangesOverlap, sameBlock, serialNumberIn, serialRange, valueText } from '../../src/core/blocks.js';

describe('identity blocks as numeric ranges', () => {
  it('a serial number is a prefix and a fixed-width number; a MAC a 48-bit number', () => {
    const s = serialRange('WG', 6, 1, 100);
    expect(valueText(s, 42n)).toBe('WG000042');
    expect(serialNumberIn(s, 'WG000042')).toBe(42n);
    expect(serialNumberIn(s, 'WG42')).toBeUndefined();
    expect(serialNumberIn(s, 'XG000042')).toBeUndefined();
    expect(describeRange(s)).toBe('serial WG000001..WG000100 (100)');
    expect(describeRange(macRange('02:50:4a:00:00:ff', 2))).toBe('MAC 02:50:4a:00:00:ff..02:50:4a:00:01:00 (2)');
  });

  it('near 2^53 every number stays distinct (BigInt, not floating point)', () => {
    const s = serialRange('P', 16, Number.MAX_SAFE_INTEGER - 1, 4); // 9007199254740990 .. 9007199254740993
    expect(rangeProblem(s)).toBeUndefined();
    const texts = [0n, 1n, 2n, 3n].map((i) => valueText(s, s.first + i));
    expect(texts).toEqual(['P9007199254740990', 'P9007199254740991', 'P9007199254740992', 'P9007199254740993']);
    expect(new Set(texts).size).toBe(4);
  });

  it('refuses numbers wider than their digits', () => {
    expect(rangeProblem(serialRange('WG', 6, 999_990, 20))).toMatch(/WG1000009 has more than 6 digits/);
  });

  it('a MAC block must be unicast and must not wrap, reach broadcast or hold all zeros', () => {
    expect(rangeProblem(macRange('02:50:4a:00:00:01', 100_000))).toBeUndefined();
    expect(rangeProblem(macRange('ff:ff:ff:ff:ff:ff', 2))).toMatch(/must not wrap/);
    expect(rangeProblem(macRange('ff:ff:ff:ff:ff:ff', 1))).toMatch(/group \(multicast\)/); // broadcast is a group address
    expect(rangeProblem(macRange('01:00:5e:00:00:01', 10))).toMatch(/group \(multicast\)/);
    expect(rangeProblem(macRange('00:00:00:00:00:00', 10))).toMatch(/00:00:00:00:00:00 is not a usable MAC/);
    // a block that runs from an even first octet into the next (odd: multicast) one
    expect(rangeProblem(macRange('02:ff:ff:ff:ff:ff', 2))).toMatch(/crosses into first octet 03/);
  });

  it('overlap is found across prefixes and widths that spell the same serial numbers', () => {
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), serialRange('WG', 6, 100, 10))).toBe(true);
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), serialRange('WG', 6, 101, 10))).toBe(false);
    // "WG0" + 00042 is "WG" + 000042
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), serialRange('WG0', 5, 40, 5))).toBe(true);
    expect(rangesOverlap(serialRange('WG0', 5, 40, 5), serialRange('WG', 6, 1, 100))).toBe(true);
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), serialRange('WG1', 5, 40, 5))).toBe(false); // WG100040..
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), serialRange('WG', 7, 1, 100))).toBe(false); // other width, other strings
    expect(rangesOverlap(serialRange('WG', 6, 1, 100), macRange('02:00:00:00:00:01', 100))).toBe(false);
    expect(rangesOverlap(macRange('02:00:00:00:00:01', 16), macRange('02:00:00:00:00:10', 16))).toBe(true);
  });

  it('BLOCK_OVERLAP names both ranges; the same block extended is not an overlap', () => {
    const used = [{ range: serialRange('WG', 6, 1, 100), source: 'bundle 1.0.0' }];
    expect(sameBlock(serialRange('WG', 6, 1, 500), used[0]!.range)).toBe(true);
    expect(() => checkOverlap(serialRange('WG', 6, 1, 500), used, 'bundle 1.1.0')).not.toThrow();
    let e: unknown;
    try {
      checkOverlap(serialRange('WG', 6, 50, 500), used, 'bundle 1.1.0');
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(BlockError);
    expect((e as BlockError).code).toBe('BLOCK_OVERLAP');
    expect((e as BlockError).message).toBe('bundle 1.1.0: serial WG000050..WG000549 (500) overlaps serial WG000001..WG000100 (100) (bundle 1.0.0)');
    // another station's block that is this one: an overlap
    expect(() => checkOverlap(serialRange('WG', 6, 1, 100), used, 'station B', { sameBlockAllowed: false })).toThrow(/overlaps/);
  });
});
