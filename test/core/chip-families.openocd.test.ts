import { describe, expect, it } from 'vitest';
import { CHIP_FAMILIES, familyCommands, type ChipFamily } from '../../src/core/chip-families.js';
import { matchesUsage, openocdUsage } from '../helpers/openocd-config-stage.js';

/**
 * The chip table against the installed openocd 0.12: for every family and every stock target
 * script that serves it, each family-specific command pijig sends (lock, mass erase, the lock
 * proof) exists for that target with an argument count its usage allows. Asked of openocd itself
 * (`help` in the configuration stage, see openocdUsage), not of a copy of its source.
 * The generic commands (reset, flash erase_address/write_image/info, verify_image, read_memory)
 * are the same for every family and run end to end on the simulated STM32F1 (test/e2e).
 */
const cases = Object.values(CHIP_FAMILIES).flatMap((f) => f.targetScripts.map((script) => [f.id, script, f] as [string, string, ChipFamily]));

describe('every command pijig sends exists in openocd 0.12 for its target', () => {
  it.each(cases)('%s via %s', async (_id, script, family) => {
    const driver = await openocdUsage(script, family.driver);
    expect(driver.code, driver.output).toBe(0);
    const commands = familyCommands(family);
    for (const [what, command] of Object.entries(commands)) {
      const words = command.startsWith('read_memory') ? 1 : 2;
      const usages = words === 1 ? (await openocdUsage(script, 'read_memory')).usages : driver.usages;
      const m = matchesUsage(usages, command, words);
      expect(m.ok, `${what}: "${command}" for ${script}: ${m.usage ? `usage is "${m.usage}"` : 'no such command'}\n${driver.output}`).toBe(true);
    }
  });

  it("the commands today's lock step sent for G0/L4 do not exist: stm32l4x has option_read, not options_read", async () => {
    const g0 = await openocdUsage('target/stm32g0x.cfg', 'stm32l4x');
    expect(matchesUsage(g0.usages, 'stm32l4x options_read 0').usage).toBeUndefined();
    expect(matchesUsage(g0.usages, 'stm32g0x lock 0').usage).toBeUndefined(); // the script name is not a driver
    expect(matchesUsage(g0.usages, 'stm32l4x option_read 0 0x20').ok).toBe(true);
    expect(matchesUsage(g0.usages, 'stm32l4x option_read 0').ok).toBe(false); // the register offset is required
    expect(familyCommands(CHIP_FAMILIES.stm32g0).lockProof).toBe('stm32l4x option_read 0 0x20');
    expect(familyCommands(CHIP_FAMILIES.stm32l4).lock).toBe('stm32l4x lock 0');
  });

  it('a command that does not exist is caught (the check can fail)', async () => {
    const f4 = await openocdUsage('target/stm32f4x.cfg', 'stm32f2x');
    expect(matchesUsage(f4.usages, 'stm32f4x lock 0').ok).toBe(false); // 0.12 has no stm32f4x driver
    expect(matchesUsage(f4.usages, 'stm32f2x lock').ok).toBe(false); // bank_id missing
    expect(matchesUsage(f4.usages, 'stm32f2x lock 0').ok).toBe(true);
  });
});
