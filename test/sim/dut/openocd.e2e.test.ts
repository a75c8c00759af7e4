import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSimFirmware } from '../../../src/sim/firmware-image.js';
import { simDutOpenocdArgs, type SimDutEndpoint } from '../../../src/sim/dut/openocd-config.js';
import { RemoteBitbangServer } from '../../../src/sim/dut/remote-bitbang.js';
import { FLASH_BASE, SimStm32 } from '../../../src/sim/dut/stm32f1.js';

/**
 * The real /usr/bin/openocd (0.12) against the simulated STM32F103. Every run has a SIGKILL
 * deadline: a hung openocd 0.12 ignores SIGTERM.
 */

interface OpenocdRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** Still running at the deadline (and SIGKILLed). */
  hung: boolean;
}

function openocd(endpoint: SimDutEndpoint, commands: string[], deadlineMs = 20_000): Promise<OpenocdRun> {
  const args = [
    ...simDutOpenocdArgs(endpoint),
    '-c', 'gdb_port disabled; tcl_port disabled; telnet_port disabled',
    ...commands.flatMap((c) => ['-c', c]),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/openocd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let hung = false;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, hung });
    });
  });
}

/** openocd's exit status as a shell would report it (SIGABRT = 128 + 6). */
function exitStatus(run: OpenocdRun): number | null {
  return run.signal === 'SIGABRT' ? 134 : run.code;
}

const IMAGE = buildSimFirmware({ product: 'pijig-demo', version: '1.2.3' }, 4096);
let dir: string;
let imagePath: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'simdut-e2e-'));
  imagePath = join(dir, 'fw.bin');
  await writeFile(imagePath, IMAGE);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withServer<T>(chip: SimStm32, fn: (endpoint: { port: number }, server: RemoteBitbangServer) => Promise<T>): Promise<T> {
  const server = new RemoteBitbangServer(chip);
  const { port } = await server.listen({ port: 0 });
  try {
    return await fn({ port: port! }, server);
  } finally {
    await server.close();
  }
}

const programCmd = () => `program ${imagePath} 0x08000000 verify reset exit`;
const flashImage = (chip: SimStm32) => Buffer.from(chip.flash.subarray(0, IMAGE.length));

describe('openocd 0.12 against the simulated STM32F103', () => {
  it('programs, verifies and resets: flash equals the image byte for byte', async () => {
    const chip = new SimStm32();
    const resets: string[] = [];
    chip.on('reset', (kind) => resets.push(kind));
    const run = await withServer(chip, (ep) => openocd(ep, [programCmd()]));
    expect(run.output).toContain('** Programming Finished **');
    expect(run.output).toContain('** Verified OK **');
    expect(run.code).toBe(0);
    expect(flashImage(chip).equals(Buffer.from(IMAGE))).toBe(true);
    expect(chip.flash.subarray(IMAGE.length).every((b) => b === 0xff)).toBe(true);
    expect(resets).toContain('system');
    expect(chip.halted).toBe(false); // `reset` (run) at the end
  }, 30_000);

  it('programs over a unix socket, then a later session reads the flash back', async () => {
    const chip = new SimStm32();
    const server = new RemoteBitbangServer(chip);
    const path = join(dir, 'dut.sock');
    await server.listen({ path });
    try {
      const run = await openocd({ path }, [programCmd()]);
      expect(run.code).toBe(0);
      const read = await openocd({ path }, ['init', 'reset halt', 'echo [mdw 0x08000000 2]', 'verify_image ' + imagePath + ' 0x08000000', 'exit']);
      expect(read.code).toBe(0);
      expect(read.output).toContain('0x08000000: 20005000 08000151');
      expect(read.output).toMatch(/verified 4096 bytes/);
      expect(server.stats.connections).toBe(2);
      expect(server.stats.reads).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  }, 30_000);

  it('fails verify at the address of a stuck flash bit', async () => {
    const chip = new SimStm32();
    // 0x08000100 holds 'P' (0x50) of the firmware magic; with bit 3 stuck at 1 it reads 0x58.
    chip.faults.stuckBit = { address: FLASH_BASE + 0x100, bit: 3, value: 1 };
    const run = await withServer(chip, (ep) =>
      openocd(ep, ['init', 'reset halt', `flash write_image erase ${imagePath} 0x08000000`, `verify_image ${imagePath} 0x08000000`, 'exit']),
    );
    expect(run.output).toMatch(/wrote 4096 bytes from file .* KiB\/s\)/);
    expect(run.output).toContain('diff 0 address 0x08000100. Was 0x58 instead of 0x50');
    expect(run.code).toBe(1);
  }, 30_000);

  it('locks with stm32f1x lock 0: after reset flash reads and programming fail', async () => {
    const chip = new SimStm32();
    chip.flash.set(IMAGE);
    await withServer(chip, async (ep) => {
      const lock = await openocd(ep, ['init', 'reset halt', 'stm32f1x lock 0', 'reset halt', 'stm32f1x options_read 0', 'exit']);
      expect(lock.output).toContain('stm32x locked');
      expect(lock.output).toContain('read protection: on');
      expect(lock.code).toBe(0);
      expect(chip.locked).toBe(true);

      const read = await openocd(ep, ['init', 'echo [mdw 0x08000000]', 'exit']);
      expect(read.output).toContain('Error: Failed to read memory at 0x08000');
      expect(read.output).toContain('JTAG-DP STICKY ERROR');
      expect(read.code).toBe(1);

      const program = await openocd(ep, [programCmd()]);
      expect(program.output).toContain('stm32x device protected');
      expect(program.output).toContain('** Programming Failed **');
      expect(program.code).toBe(1);
    });
    expect(flashImage(chip).equals(Buffer.from(IMAGE))).toBe(true); // still there, just unreadable
  }, 30_000);

  it('unlocks with stm32f1x unlock 0: after reset the flash is erased and readable', async () => {
    const chip = new SimStm32();
    chip.flash.set(IMAGE);
    chip.setReadProtection(true);
    const run = await withServer(chip, (ep) =>
      openocd(ep, ['init', 'reset halt', 'stm32f1x unlock 0', 'reset halt', 'stm32f1x options_read 0', 'echo [mdw 0x08000000]', 'exit']),
    );
    expect(run.output).toContain('stm32x unlocked.');
    expect(run.output).toContain('read protection: off');
    expect(run.output).toContain('0x08000000: ffffffff');
    expect(run.code).toBe(0);
    expect(chip.locked).toBe(false);
    expect(chip.flash.every((b) => b === 0xff)).toBe(true);
  }, 30_000);

  it('mass-erases and erases single sectors', async () => {
    const chip = new SimStm32();
    chip.flash.fill(0);
    await withServer(chip, async (ep) => {
      const sector = await openocd(ep, ['init', 'reset halt', 'flash erase_sector 0 1 1', 'exit']);
      expect(sector.code).toBe(0);
      expect(chip.flash.subarray(0x400, 0x800).every((b) => b === 0xff)).toBe(true);
      expect(chip.flash[0]).toBe(0);
      const mass = await openocd(ep, ['init', 'reset halt', 'stm32f1x mass_erase 0', 'exit']);
      expect(mass.output).toContain('stm32x mass erase complete');
      expect(mass.code).toBe(0);
      expect(chip.flash.every((b) => b === 0xff)).toBe(true);
    });
  }, 30_000);

  it('aborts with exit 134 when the connection drops mid-programming', async () => {
    const chip = new SimStm32();
    chip.faults.dropAfterHalfwords = 100;
    const run = await withServer(chip, (ep) => openocd(ep, [programCmd()]));
    expect(run.output).toContain('** Programming Started **');
    expect(run.output).toContain("Assertion `!remote_bitbang_recv_buf_empty()' failed");
    expect(run.output).not.toContain('** Programming Failed **');
    expect(exitStatus(run)).toBe(134);
    expect(chip.halfwordsProgrammed).toBe(100);
  }, 30_000);

  it('hangs when the target goes silent, and only SIGKILL ends openocd', async () => {
    const chip = new SimStm32();
    chip.faults.silent = true;
    const run = await withServer(chip, (ep) => openocd(ep, [programCmd()], 1500));
    expect(run.hung).toBe(true);
    expect(run.signal).toBe('SIGKILL');
    expect(run.output).not.toContain('** Programming');
  }, 30_000);

  it('reports an unpowered target as a scan chain of all ones', async () => {
    const chip = new SimStm32({ powered: false });
    const run = await withServer(chip, (ep) => openocd(ep, [programCmd()]));
    expect(run.output).toContain('JTAG scan chain interrogation failed: all ones');
    expect(run.output).toContain('** OpenOCD init failed **');
    expect(run.code).toBe(1);
  }, 30_000);

  it('reports a dead scan chain as all zeroes', async () => {
    const chip = new SimStm32();
    chip.faults.deadScanChain = true;
    const run = await withServer(chip, (ep) => openocd(ep, [programCmd()]));
    expect(run.output).toContain('JTAG scan chain interrogation failed: all zeroes');
    expect(run.output).toContain('** OpenOCD init failed **');
    expect(run.code).toBe(1);
  }, 30_000);

  it('fails to connect when nothing listens (no target)', async () => {
    const server = new RemoteBitbangServer(new SimStm32());
    const { port } = await server.listen({ port: 0 });
    await server.close();
    const run = await openocd({ port: port! }, [programCmd()]);
    expect(run.output).toContain("Error on socket 'Failed to connect'");
    expect(run.output).toContain('** OpenOCD init failed **');
    expect(run.code).toBe(1);
  }, 30_000);
});
