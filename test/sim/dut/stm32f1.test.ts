import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimDutError } from '../../../src/sim/dut/errors.js';
import { DBGMCU_IDCODE_F103, FLASH_KEY1, FLASH_KEY2, SimStm32 } from '../../../src/sim/dut/stm32f1.js';

const KEYR = 0x40022004;
const OPTKEYR = 0x40022008;
const SR = 0x4002200c;
const CR = 0x40022010;
const AR = 0x40022014;
const OBR = 0x4002201c;
const WRPR = 0x40022020;
const PG = 1 << 0, PER = 1 << 1, MER = 1 << 2, OPTPG = 1 << 4, OPTER = 1 << 5, STRT = 1 << 6, LOCK = 1 << 7, OPTWRE = 1 << 9;
const PGERR = 1 << 2, WRPRTERR = 1 << 4, EOP = 1 << 5;
const DHCSR = 0xe000edf0;
const DEMCR = 0xe000edfc;
const AIRCR = 0xe000ed0c;

function unlock(chip: SimStm32): void {
  expect(chip.write(KEYR, 4, FLASH_KEY1)).toBe(true);
  expect(chip.write(KEYR, 4, FLASH_KEY2)).toBe(true);
}

function program(chip: SimStm32, address: number, halfword: number): number {
  chip.write(SR, 4, PGERR | WRPRTERR | EOP);
  chip.write(CR, 4, PG);
  expect(chip.write(address, 2, halfword)).toBe(true);
  return chip.read(SR, 4);
}

/** What openocd's `stm32f1x lock 0` / `unlock 0` do to the FPEC (option erase, then program). */
function writeOptions(chip: SimStm32, rdp: number): void {
  unlock(chip);
  chip.write(OPTKEYR, 4, FLASH_KEY1);
  chip.write(OPTKEYR, 4, FLASH_KEY2);
  expect(chip.read(CR, 4) & OPTWRE).toBe(OPTWRE);
  chip.write(CR, 4, OPTER | OPTWRE);
  chip.write(CR, 4, OPTER | STRT | OPTWRE);
  chip.write(CR, 4, OPTPG | OPTWRE);
  const values = [rdp, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  values.forEach((v, i) => expect(chip.write(0x1ffff800 + 2 * i, 2, v)).toBe(true));
  chip.write(CR, 4, LOCK);
}

describe('SimStm32 identity and memory map', () => {
  it('answers DBGMCU_IDCODE, the flash size register and a blank flash', () => {
    const chip = new SimStm32({ flashKiB: 64 });
    expect(chip.read(0xe0042000, 4)).toBe(DBGMCU_IDCODE_F103);
    expect(chip.read(0x1ffff7e0, 2)).toBe(64);
    expect(chip.read(0x08000000, 4)).toBe(0xffffffff);
    expect(chip.read(0xe000ed00, 4)).toBe(0x411fc231);
    expect(chip.flash.length).toBe(64 * 1024);
  });

  it('reads narrow accesses from the right byte lanes', () => {
    const chip = new SimStm32();
    chip.write(0x20000000, 4, 0x44332211);
    expect(chip.read(0x20000001, 1)).toBe(0x22);
    expect(chip.read(0x20000002, 2)).toBe(0x4433);
    expect(chip.read(0x40022000, 4)).toBe(0x30); // FLASH_ACR reset value
    expect(chip.read(0x30000000, 4)).toBe(-1); // unmapped: bus error
  });

  it('loads MSP and PC from the vector table at reset and halts on VC_CORERESET', () => {
    const chip = new SimStm32();
    chip.flash.set([0x00, 0x50, 0x00, 0x20, 0x51, 0x01, 0x00, 0x08]);
    chip.write(DHCSR, 4, 0xa05f0001);
    chip.write(DEMCR, 4, 1);
    chip.write(AIRCR, 4, 0x05fa0004);
    expect(chip.halted).toBe(true);
    const dhcsr = chip.read(DHCSR, 4);
    expect(dhcsr & (1 << 17)).not.toBe(0); // S_HALT
    expect(dhcsr & (1 << 25)).not.toBe(0); // S_RESET_ST, cleared by the read
    expect(chip.read(DHCSR, 4) & (1 << 25)).toBe(0);
    chip.write(0xe000edf4, 4, 15); // DCRSR: read PC
    expect(chip.read(0xe000edf8, 4)).toBe(0x08000150);
    chip.write(0xe000edf4, 4, 17); // MSP
    expect(chip.read(0xe000edf8, 4)).toBe(0x20005000);
  });

  it('keeps FP_CTRL.ENABLE only when written with KEY', () => {
    const chip = new SimStm32();
    chip.write(0xe0002000, 4, 1);
    expect(chip.read(0xe0002000, 4)).toBe(0x260);
    chip.write(0xe0002000, 4, 3);
    expect(chip.read(0xe0002000, 4)).toBe(0x261);
  });
});

describe('SimStm32 flash controller (FPEC)', () => {
  it('ignores CR writes until KEY1, KEY2 are written to KEYR', () => {
    const chip = new SimStm32();
    expect(chip.read(CR, 4) & LOCK).toBe(LOCK);
    chip.write(CR, 4, PG);
    expect(chip.read(CR, 4)).toBe(LOCK);
    unlock(chip);
    chip.write(CR, 4, PG);
    expect(chip.read(CR, 4)).toBe(PG);
    chip.write(CR, 4, LOCK);
    expect(chip.read(CR, 4)).toBe(LOCK);
  });

  it('jams the FPEC on a wrong key until the next reset', () => {
    const chip = new SimStm32();
    expect(chip.write(KEYR, 4, 0x12345678)).toBe(false); // bus error
    expect(chip.write(KEYR, 4, FLASH_KEY1)).toBe(false);
    chip.reset();
    unlock(chip);
    expect(chip.read(CR, 4) & LOCK).toBe(0);
  });

  it('programs half-words, emits flash-write and counts them', () => {
    const chip = new SimStm32();
    const writes: Array<[number, number]> = [];
    chip.on('flash-write', (address, length) => writes.push([address, length]));
    unlock(chip);
    expect(program(chip, 0x08000010, 0xbeef) & EOP).toBe(EOP);
    expect(chip.flash[0x10]).toBe(0xef);
    expect(chip.flash[0x11]).toBe(0xbe);
    expect(writes).toEqual([[0x08000010, 2]]);
    expect(chip.halfwordsProgrammed).toBe(1);
  });

  it('rejects 0->1 programming with PGERR like hardware, but allows writing 0x0000', () => {
    const chip = new SimStm32();
    unlock(chip);
    program(chip, 0x08000000, 0x1234);
    expect(program(chip, 0x08000000, 0xffff) & PGERR).toBe(PGERR);
    expect(chip.read(0x08000000, 2)).toBe(0x1234);
    expect(program(chip, 0x08000000, 0x0000) & PGERR).toBe(0);
    expect(chip.read(0x08000000, 2)).toBe(0);
  });

  it('answers byte and word writes in programming mode with a bus error', () => {
    const chip = new SimStm32();
    unlock(chip);
    chip.write(CR, 4, PG);
    expect(chip.write(0x08000000, 1, 0x12)).toBe(false);
    expect(chip.write(0x08000000, 4, 0x12345678)).toBe(false);
    chip.write(CR, 4, 0);
    expect(chip.write(0x08000000, 2, 0x1234)).toBe(false); // PG not set
    expect(chip.flash[0]).toBe(0xff);
  });

  it('erases one 1 KiB page with PER/AR/STRT', () => {
    const chip = new SimStm32();
    chip.flash.fill(0);
    unlock(chip);
    chip.write(CR, 4, PER);
    chip.write(AR, 4, 0x08000400);
    chip.write(CR, 4, PER | STRT);
    expect(chip.read(SR, 4) & EOP).toBe(EOP);
    expect(chip.flash.subarray(0x400, 0x800).every((b) => b === 0xff)).toBe(true);
    expect(chip.flash[0x3ff]).toBe(0);
    expect(chip.flash[0x800]).toBe(0);
  });

  it('mass-erases with MER/STRT', () => {
    const chip = new SimStm32();
    chip.flash.fill(0);
    unlock(chip);
    chip.write(CR, 4, MER);
    chip.write(CR, 4, MER | STRT);
    expect(chip.flash.every((b) => b === 0xff)).toBe(true);
  });

  it('keeps a stuck bit whatever is programmed', () => {
    const chip = new SimStm32();
    chip.faults.stuckBit = { address: 0x08000003, bit: 0, value: 1 };
    unlock(chip);
    program(chip, 0x08000002, 0x0000);
    expect(chip.flash[3]).toBe(0x01);
  });

  it('honours a cleared WRPR bit with WRPRTERR', () => {
    const chip = new SimStm32();
    chip.optionBytes.set([0xfe, 0x01], 8); // WRP0 bit 0: pages 0-3 protected
    chip.reset();
    expect(chip.read(WRPR, 4)).toBe(0xfffffffe);
    unlock(chip);
    expect(program(chip, 0x08000000, 0x1234) & WRPRTERR).toBe(WRPRTERR);
    expect(program(chip, 0x08001000, 0x1234) & WRPRTERR).toBe(0);
  });
});

describe('SimStm32 read-out protection', () => {
  it('reports factory option bytes in OBR', () => {
    const chip = new SimStm32();
    expect(chip.read(OBR, 4)).toBe(0x03fffffc);
    expect(chip.read(WRPR, 4)).toBe(0xffffffff);
    expect(chip.locked).toBe(false);
  });

  it('locks only after a reset once RDP is programmed, like stm32f1x lock 0', () => {
    const chip = new SimStm32();
    const events: boolean[] = [];
    chip.on('lock', (locked) => events.push(locked));
    chip.flash.fill(0x5a, 0, 16);
    writeOptions(chip, 0x00);
    expect(chip.locked).toBe(false);
    expect(chip.read(0x08000000, 4)).toBe(0x5a5a5a5a);
    chip.reset();
    expect(chip.locked).toBe(true);
    expect(events).toEqual([true]);
    expect(chip.read(OBR, 4) & 2).toBe(2);
    expect(chip.read(0x08000000, 4)).toBe(-1); // debug read of flash: bus error
    expect(chip.read(0x00000000, 4)).toBe(-1); // and through the boot alias
    expect(chip.flash[0]).toBe(0x5a); // the content is still there
  });

  it('refuses page erase and programming while protected, but mass erase works', () => {
    const chip = new SimStm32();
    chip.setReadProtection(true);
    unlock(chip);
    chip.write(CR, 4, PER);
    chip.write(AR, 4, 0x08000000);
    chip.write(CR, 4, PER | STRT);
    expect(chip.read(SR, 4) & WRPRTERR).toBe(WRPRTERR);
    chip.write(SR, 4, WRPRTERR);
    expect(program(chip, 0x08002000, 0x1234) & WRPRTERR).toBe(WRPRTERR);
    chip.flash.fill(0);
    chip.write(CR, 4, MER);
    chip.write(CR, 4, MER | STRT);
    expect(chip.flash.every((b) => b === 0xff)).toBe(true);
  });

  it('mass-erases on unprotection and unlocks after reset, like stm32f1x unlock 0', () => {
    const chip = new SimStm32();
    chip.flash.fill(0x11, 0, 4096);
    chip.setReadProtection(true);
    writeOptions(chip, 0xa5);
    expect(chip.flash.every((b) => b === 0xff)).toBe(true);
    expect(chip.locked).toBe(true);
    chip.reset();
    expect(chip.locked).toBe(false);
    expect(chip.read(OBR, 4)).toBe(0x03fffffc);
  });

  it('treats a bad RDP complement as protected with OPTERR', () => {
    const chip = new SimStm32();
    chip.optionBytes[1] = 0x00; // nRDP does not match A5
    chip.reset();
    expect(chip.locked).toBe(true);
    expect(chip.read(OBR, 4) & 3).toBe(3);
  });
});

describe('SimStm32 power and persistence', () => {
  it('keeps flash and option bytes over a power cycle and emits power and reset', () => {
    const chip = new SimStm32();
    const seen: string[] = [];
    chip.on('power', (on) => seen.push(on ? 'on' : 'off'));
    chip.on('reset', (kind) => seen.push(kind));
    chip.flash[0] = 0x42;
    chip.optionBytes.set([0x00, 0xff]);
    chip.power(false);
    expect(chip.powered).toBe(false);
    expect(chip.jtag.tdo()).toBe(1);
    chip.power(true);
    expect(seen).toEqual(['off', 'on', 'power-on']);
    expect(chip.flash[0]).toBe(0x42);
    expect(chip.locked).toBe(true);
  });

  it('saves and loads flash, option bytes and UID atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'simstm32-'));
    try {
      const path = join(dir, 'dut.bin');
      const chip = new SimStm32({ flashKiB: 32 });
      chip.flash.set([1, 2, 3, 4], 100);
      chip.setReadProtection(true);
      await chip.saveFlash(path);
      const loaded = await SimStm32.loadFlash(path);
      expect(loaded.flashKiB).toBe(32);
      expect(Buffer.from(loaded.flash).equals(Buffer.from(chip.flash))).toBe(true);
      expect(loaded.locked).toBe(true);
      expect(Buffer.from(loaded.uid).equals(Buffer.from(chip.uid))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing or corrupt state file with a code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'simstm32-'));
    try {
      const missing = join(dir, 'none.bin');
      await expect(SimStm32.loadFlash(missing)).rejects.toMatchObject({ code: 'STATE_MISSING' });
      expect((await SimStm32.loadFlash(missing, { missingOk: true })).flash[0]).toBe(0xff);
      const corrupt = join(dir, 'corrupt.bin');
      await writeFile(corrupt, 'hello');
      const err = await SimStm32.loadFlash(corrupt).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SimDutError);
      expect((err as SimDutError).code).toBe('STATE_CORRUPT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
