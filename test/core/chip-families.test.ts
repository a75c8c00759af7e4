import { describe, expect, it } from 'vitest';
import {
  CHIP_FAMILIES,
  checkPlanAgainstTarget,
  checkRegions,
  chipFamily,
  eraseUnitAt,
  firmwareFileKind,
  identityProblem,
  parseTarget,
  probeScriptProblem,
} from '../../src/core/chip-families.js';
import { YamlSource } from '../../src/config/yaml.js';
import { formatIssue } from '../../src/config/errors.js';

const KiB = 1024;

describe('part numbers', () => {
  it('maps a part to its family, flash size, layout and script', () => {
    const f103 = parseTarget('stm32f103c8');
    expect(f103).toMatchObject({ family: 'stm32f1', flashKiB: 64, flashBase: 0x08000000, targetScript: 'target/stm32f1x.cfg', uniqueId: [0x1ffff7e8, 0x1ffff7ec, 0x1ffff7f0] });
    expect(f103.layout).toEqual([{ start: 0x08000000, size: KiB, count: 64 }]);
    expect(parseTarget('STM32F103RET6')).toMatchObject({ flashKiB: 512, layout: [{ start: 0x08000000, size: 2 * KiB, count: 256 }] });
    expect(parseTarget('stm32f103zg').targetScript).toBe('target/stm32xl.cfg');
    expect(parseTarget('stm32f107vc').layout[0]!.size).toBe(2 * KiB); // connectivity line: 2 KiB pages
    expect(parseTarget('stm32g071rb')).toMatchObject({ family: 'stm32g0', flashKiB: 128, layout: [{ size: 2 * KiB, count: 64 }], uniqueId: [0x1fff7590, 0x1fff7594, 0x1fff7598] });
    expect(parseTarget('stm32f030f4')).toMatchObject({ family: 'stm32f0', flashKiB: 16, uniqueId: [0x1ffff7ac, 0x1ffff7b0, 0x1ffff7b4] });
    expect(parseTarget('stm32l011k4')).toMatchObject({ family: 'stm32l0', flashKiB: 16, layout: [{ size: 128, count: 128 }], uniqueId: [0x1ff80050, 0x1ff80054, 0x1ff80064] });
    expect(parseTarget('stm32l152rc')).toMatchObject({ family: 'stm32l1', uniqueId: [0x1ff800d0, 0x1ff800d4, 0x1ff800e4] });
    expect(parseTarget('stm32l151c8').uniqueId[0]).toBe(0x1ff80050);
    expect(parseTarget('stm32l152re').targetScript).toBe('target/stm32l1x_dual_bank.cfg');
    expect(parseTarget('stm32l4r5zi').layout[0]!.size).toBe(8 * KiB);
    expect(parseTarget('stm32l476rg').layout[0]!.size).toBe(2 * KiB);
    expect(parseTarget('stm32g474re').layout[0]!.size).toBe(4 * KiB);
    expect(parseTarget('stm32wb55rg')).toMatchObject({ family: 'stm32wb', flashKiB: 1024, layout: [{ size: 4 * KiB }] });
    expect(parseTarget('stm32wb15cc').flashKiB).toBe(320);
    expect(parseTarget('stm32wle5jc')).toMatchObject({ family: 'stm32wl', flashKiB: 256 });
    expect(parseTarget('stm32h743zi')).toMatchObject({ family: 'stm32h7', targetScript: 'target/stm32h7x_dual_bank.cfg', uniqueId: [0x1ff1e800, 0x1ff1e804, 0x1ff1e808] });
    expect(parseTarget('stm32h7a3zi')).toMatchObject({ layout: [{ size: 8 * KiB, count: 256 }], uniqueId: [0x08fff800, 0x08fff804, 0x08fff808] });
    expect(parseTarget('stm32f746ng').uniqueId[0]).toBe(0x1ff0f420);
    expect(parseTarget('stm32f722re').uniqueId[0]).toBe(0x1ff07a10);
  });

  it('lays out F2/F4/F7 sectors: 16/16/16/16/64/128..., two banks on 2 MiB F4, 32 KiB-based on F74x-F77x', () => {
    expect(parseTarget('stm32f407vg').layout).toEqual([
      { start: 0x08000000, size: 16 * KiB, count: 4 },
      { start: 0x08010000, size: 64 * KiB, count: 1 },
      { start: 0x08020000, size: 128 * KiB, count: 7 },
    ]);
    const f429 = parseTarget('stm32f429zi').layout;
    expect(f429).toHaveLength(6);
    expect(f429[3]).toEqual({ start: 0x08100000, size: 16 * KiB, count: 4 });
    expect(parseTarget('stm32f401cc').layout.at(-1)).toEqual({ start: 0x08020000, size: 128 * KiB, count: 1 });
    expect(parseTarget('stm32f767zi').layout).toEqual([
      { start: 0x08000000, size: 32 * KiB, count: 4 },
      { start: 0x08020000, size: 128 * KiB, count: 1 },
      { start: 0x08040000, size: 256 * KiB, count: 7 },
    ]);
    expect(eraseUnitAt(parseTarget('stm32f407vg'), 0x0800fc00)).toEqual({ index: 3, start: 0x0800c000, size: 16 * KiB });
    expect(eraseUnitAt(parseTarget('stm32f407vg'), 0x080e0000)).toEqual({ index: 11, start: 0x080e0000, size: 128 * KiB });
    expect(eraseUnitAt(parseTarget('stm32f407vg'), 0x08100000)).toBeUndefined();
  });

  it('refuses an unknown family or part with a clear error', () => {
    expect(() => parseTarget('stm32u575zi')).toThrow(/STM32U5 family is not in pijig's chip table/);
    expect(() => parseTarget('stm32f1x')).toThrow(/not an STM32 part number/);
    expect(() => parseTarget('nrf52840')).toThrow(/not an STM32 part number/);
    expect(() => parseTarget('stm32f103ci')).toThrow(/2048 KiB, but STM32F1 parts have 16..1024 KiB/);
    expect(() => parseTarget('stm32f103cx')).toThrow(/flash-size letter "x"/);
    expect(() => chipFamily('stm32lx')).toThrow(/not a chip family pijig knows/); // a driver serves several families
    expect(chipFamily('target/stm32l0_dual_bank.cfg').id).toBe('stm32l0');
    expect(chipFamily('stm32g0x').id).toBe('stm32g0');
    expect(chipFamily('stm32f103c8').id).toBe('stm32f1');
    expect(() => chipFamily('toString')).toThrow(/not a chip family/);
  });

  it('has every family the brief names, each with its commands', () => {
    expect(Object.keys(CHIP_FAMILIES).sort()).toEqual(['stm32f0', 'stm32f1', 'stm32f2', 'stm32f3', 'stm32f4', 'stm32f7', 'stm32g0', 'stm32g4', 'stm32h7', 'stm32l0', 'stm32l1', 'stm32l4', 'stm32wb', 'stm32wl']);
    expect(CHIP_FAMILIES.stm32g0.lockProof.command).toBe('stm32l4x option_read 0 0x20');
    expect(CHIP_FAMILIES.stm32l4.lock).toBe('stm32l4x lock 0');
    expect(CHIP_FAMILIES.stm32l0.lock).toBe('stm32lx lock 0');
    expect(CHIP_FAMILIES.stm32h7.lockProof.command).toBe('stm32h7x option_read 0 0x1c');
    expect(CHIP_FAMILIES.stm32f7.massErase).toBe('stm32f2x mass_erase 0');
    expect(CHIP_FAMILIES.stm32f3.lock).toBe('stm32f1x lock 0');
  });

  it('checks the probe script against the part', () => {
    expect(probeScriptProblem('target/stm32f1x.cfg', 'stm32f103c8')).toBeUndefined();
    expect(probeScriptProblem('target/stm32f1x.cfg', 'stm32g071rb')).toMatch(/is for STM32F1, but stm32g071rb is STM32G0/);
    expect(probeScriptProblem('target/stm32h7x.cfg', 'stm32h743zi')).toMatch(/dual bank.*stm32h7x_dual_bank.cfg/);
  });
});

describe('regions against the target flash', () => {
  const f103 = parseTarget('stm32f103c8');
  it('accepts regions inside flash', () => {
    expect(checkRegions(f103, [{ name: 'boot', address: 0x08000000, size: 8 * KiB }, { name: 'app', address: 0x08002000, size: 40 * KiB }])).toEqual([]);
  });
  it('refuses a region in RAM, one past 4 GiB, one past the end of flash, overlaps and shared programming units', () => {
    const issues = checkRegions(f103, [
      { name: 'ram', address: 0x20000000, size: 1024 },
      { name: 'wrap', address: 0xfffffff0, size: 0x20 },
      { name: 'tail', address: 0x0800f000, size: 8 * KiB },
      { name: 'a', address: 0x08000000, size: 0x101 },
      { name: 'b', address: 0x08000100, size: 4 },
      { name: 'odd', address: 0x08000203, size: 4 },
    ]);
    const text = issues.map((i) => i.message).join('\n');
    expect(text).toMatch(/region "ram" 0x20000000-0x200003FF is outside stm32f103c8 flash 0x08000000-0x0800FFFF \(0x20000000 is SRAM, not flash\)/);
    expect(text).toMatch(/region "wrap" at 0xFFFFFFF0 with 32 bytes runs past the 4 GiB address space/);
    expect(text).toMatch(/region "tail" 0x0800F000-0x08010FFF is outside/);
    expect(text).toMatch(/region "b" at 0x08000100 overlaps region "a"/);
    expect(text).toMatch(/region "odd" at 0x08000203 is not aligned to the STM32F1's 2-byte programming unit/);
    expect(issues.find((i) => i.message.includes('"tail"'))).toMatchObject({ region: 2, field: 'size' });
  });
  it('refuses two regions in one L4 double-word', () => {
    const l4 = parseTarget('stm32l476rg');
    expect(checkRegions(l4, [{ name: 'a', address: 0x08000000, size: 12 }, { name: 'b', address: 0x08000010, size: 8 }])).toEqual([]);
    expect(checkRegions(l4, [{ name: 'a', address: 0x08000000, size: 12 }, { name: 'b', address: 0x0800000c, size: 8 }]).map((i) => i.message)).toEqual([
      'region "b" at 0x0800000C is not aligned to the STM32L4\'s 8-byte programming unit',
      'region "b" at 0x0800000C shares a 8-byte programming unit with region "a" (ends 0x0800000B)',
    ]);
  });
});

describe('the identity record', () => {
  it('must have a page of its own on an F1', () => {
    const f103 = parseTarget('stm32f103c8');
    expect(identityProblem(f103, 0x0800fc00, 64, [{ name: 'app', address: 0x08000000, size: 60 * KiB }])).toBeUndefined();
    expect(identityProblem(f103, 0x0800fc00, 64, [{ name: 'app', address: 0x08000000, size: 63 * KiB + 1 }])).toMatch(/page 63 .* region "app"/);
    expect(identityProblem(f103, 0x20000000, 64, [])).toMatch(/outside stm32f103c8 flash .*SRAM/);
  });

  it("refuses the default 0x0800FC00 on an F4: sector 3 is 16 KiB and holds firmware above 48 KiB", () => {
    const f407 = parseTarget('stm32f407vg');
    const firmware = [{ name: 'application', address: 0x08000000, size: 60 * KiB }];
    expect(identityProblem(f407, 0x0800fc00, 64, firmware)).toBe(
      'identity address 0x0800FC00 lies in sector 3 (0x0800C000-0x0800FFFF, 16 KiB), which region "application" (0x08000000-0x0800EFFF) also uses: writing the identity erases that whole sector and the firmware in it; put the identity in a sector of its own',
    );
    expect(identityProblem(f407, 0x080e0000, 64, firmware)).toBeUndefined(); // sector 11, nothing else there
  });

  it('checks a plan against a target with file and line', () => {
    const plan = YamlSource.parse(
      ['name: p', 'product: widget', 'steps:', '  - name: program', '    kind: program', '  - name: id', '    kind: identity', '  - name: lock', '    kind: lock', '    params: { family: stm32f1x }', ''].join('\n'),
      'plan.yaml',
    );
    const regions = [{ name: 'application', address: 0x08000000, size: 60 * KiB }];
    expect(checkPlanAgainstTarget(plan, 'stm32f103c8', regions)).toEqual([]);
    const issues = checkPlanAgainstTarget(plan, 'stm32f407vg', regions).map(formatIssue);
    expect(issues).toEqual([
      expect.stringMatching(/^plan\.yaml:7:11: steps\[1\]\.kind: identity address 0x0800FC00 lies in sector 3 .* \(the default address; set params.address\)$/),
      expect.stringMatching(/^plan\.yaml:10:23: steps\[2\]\.params\.family: lock family "stm32f1x" is STM32F1, but the target stm32f407vg is STM32F4$/),
    ]);
    expect(checkPlanAgainstTarget(plan, 'stm32x999').map(formatIssue)).toEqual([expect.stringMatching(/^plan\.yaml:1:1: target "stm32x999"/)]);
  });
});

describe('raw binaries only', () => {
  it('tells HEX, S-record and ELF from raw bytes', () => {
    expect(firmwareFileKind(Buffer.from(':020000040800F2\n:00000001FF\n'))).toBe('ihex');
    expect(firmwareFileKind(Buffer.from('\r\n:020000040800F2\r\n'))).toBe('ihex');
    expect(firmwareFileKind(Buffer.from('S00F000068656C6C6F202020202000003C\nS9030000FC\n'))).toBe('srec');
    expect(firmwareFileKind(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]))).toBe('elf');
    expect(firmwareFileKind(Buffer.from([0x00, 0x50, 0x00, 0x20, 0x51, 0x01, 0x00, 0x08]))).toBe('bin');
    // a raw image that starts with ':' but no valid record, or a record with a wrong checksum
    expect(firmwareFileKind(Buffer.from(':020000040800F3\n'))).toBe('bin');
    expect(firmwareFileKind(Buffer.from(':hello'))).toBe('bin');
  });
});
