import { beforeAll, describe, expect, it } from 'vitest';
import { CHIP_FAMILIES } from '../../../src/core/chip-families.js';
import type { z } from 'zod';
import { openocdArgs as argsOf } from '../../../src/devices/probe/probe-config.js';
import { probeSchema } from '../../../src/config/station.js';

/** The probe section as a station.yaml states it (validated and defaulted before use). */
type ProbeSettings = z.input<typeof probeSchema>;
const openocdArgs = (settings: ProbeSettings): string[] => argsOf(probeSchema.parse(settings));
import { openocdAdapters, openocdConfigStage } from '../../helpers/openocd-config-stage.js';

/**
 * Every probe configuration pijig renders loads in the real openocd 0.12: each adapter kind x
 * transport x stock target script, run through openocd's configuration stage and stopped with
 * `shutdown` before `init` (see openocdConfigStage), so no probe is needed and any syntax error,
 * unknown transport or failing target script exits non-zero. Each run also prints the transport
 * openocd settled on.
 */
const scripts = Object.values(CHIP_FAMILIES).flatMap((f) => f.targetScripts.map((s) => ({ script: s, family: f })));
const gpio = { chip: 0, swclk: 25, swdio: 24, srst: 18, tck: 11, tms: 25, tdi: 10, tdo: 9 };

type Case = { name: string; settings: ProbeSettings; expect: string };
const cases: Case[] = [];
for (const { script, family } of scripts) {
  for (const transport of [undefined, 'swd', 'jtag'] as const) {
    if (transport === 'jtag' && family.swdOnly) continue;
    const t = transport ?? 'swd';
    cases.push({ name: `stlink ${transport ?? '(default)'} ${script}`, settings: { kind: 'stlink', target: script, ...(transport ? { transport } : {}) }, expect: `hla_${t}` });
    cases.push({ name: `jlink ${transport ?? '(default)'} ${script}`, settings: { kind: 'jlink', target: script, ...(transport ? { transport } : {}), serial: '000123456789', speed_khz: 4000 }, expect: t });
    cases.push({ name: `cmsis-dap ${transport ?? '(default)'} ${script}`, settings: { kind: 'cmsis-dap', target: script, ...(transport ? { transport } : {}) }, expect: t });
    cases.push({ name: `linuxgpiod ${transport ?? '(default)'} ${script}`, settings: { kind: 'linuxgpiod', target: script, ...(transport ? { transport } : {}), gpio }, expect: t });
  }
  if (!family.swdOnly) cases.push({ name: `remote_bitbang ${script}`, settings: { kind: 'remote_bitbang', target: script, remote_bitbang: { port: 5555 }, work_area_size: 0 }, expect: 'jtag' });
}

async function load(settings: ProbeSettings, extra: string[] = []): Promise<{ code: number | undefined; output: string; transport: string | undefined }> {
  const r = await openocdConfigStage(openocdArgs(settings), [...extra, 'echo "@@transport [transport select]"']);
  return { ...r, transport: /@@transport (\S+)/.exec(r.output)?.[1] };
}

describe('rendered probe configurations load in openocd 0.12', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await load(c.settings);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toMatch(/^Error/m);
    expect(r.transport, r.output).toBe(c.expect);
  });

  describe('bcm2835gpio', () => {
    let built = false;
    beforeAll(async () => {
      built = (await openocdAdapters()).includes('bcm2835gpio');
    });
    // Debian's amd64 openocd is built without bcm2835gpio (it is a Raspberry Pi driver); on a Pi this runs.
    it('loads where openocd has the driver', async (ctx) => {
      if (!built) ctx.skip();
      const r = await load({ kind: 'bcm2835gpio', target: 'target/stm32f1x.cfg', peripheral_base: 0xfe000000, gpio });
      expect(r.code, r.output).toBe(0);
      expect(r.transport).toBe('swd');
    });
  });

  it('J-Link with no transport set gets SWD: left to itself openocd picks JTAG, which an SWD-only G0 never answers', async () => {
    const bare = await openocdConfigStage(['-c', 'source [find interface/jlink.cfg]', '-c', 'source [find target/stm32g0x.cfg]'], ['echo "@@transport [transport select]"']);
    expect(bare.output).toMatch(/auto-selecting first available session transport "jtag"/);
    const ours = await load({ kind: 'jlink', target: 'target/stm32g0x.cfg' });
    expect(ours.transport).toBe('swd');
    expect(ours.output).not.toMatch(/auto-selecting/);
  });

  it('refuses JTAG for SWD-only families (F0, G0, L0): stm32l0.cfg does not even load under JTAG', async () => {
    for (const f of [CHIP_FAMILIES.stm32f0, CHIP_FAMILIES.stm32g0, CHIP_FAMILIES.stm32l0]) {
      expect(() => openocdArgs({ kind: 'jlink', target: f.targetScript, transport: 'jtag' })).toThrow(/SWD only/);
      expect(() => openocdArgs({ kind: 'remote_bitbang', target: f.targetScript, remote_bitbang: { port: 1 } })).toThrow(/JTAG only/);
    }
    const r = await openocdConfigStage(['-c', 'source [find interface/jlink.cfg]', '-c', 'transport select jtag', '-c', 'source [find target/stm32l0.cfg]']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/missing IR length/);
  });

  it('the method catches a syntax error: a bad transport, a bad speed, a missing script', async () => {
    const settings: ProbeSettings = { kind: 'jlink', target: 'target/stm32f4x.cfg' };
    expect((await load(settings, ['transport select swdx'])).code).not.toBe(0);
    expect((await load({ ...settings, extra_commands: ['adapter speed fast'] })).code).not.toBe(0);
    // a script openocd cannot find (family named, so the station schema lets it through to openocd)
    expect((await load({ ...settings, target: 'target/stm32f9x.cfg', family: 'stm32f4' })).code).not.toBe(0);
  });
});
