import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  parseByteList,
  parseDifferences,
  parseErased,
  parseMarker,
  parseReadProtection,
  parseSectors,
  parseVerified,
  parseWrote,
  readProtectionFrom,
} from '../../../src/devices/probe/openocd-output.js';
import { CHIP_FAMILIES } from '../../../src/core/chip-families.js';

describe('openocd 0.12 output', () => {
  it('parses command results', () => {
    expect(parseWrote('wrote 4096 bytes from file /tmp/a.bin in 2.736944s (1.461 KiB/s)\n')).toEqual({ bytes: 4096, seconds: 2.736944 });
    expect(parseVerified('verified 4096 bytes in 0.095109s (42.057 KiB/s)\n')).toEqual({ bytes: 4096, seconds: 0.095109 });
    expect(parseErased('erased address 0x08000000 (length 4096) in 0.012184s (328.299 KiB/s)\n')).toEqual({ address: 0x08000000, bytes: 4096, seconds: 0.012184 });
    expect(parseDifferences('diff 0 address 0x08000100. Was 0xe4 instead of 0xec\ndiff 1 address 0x08000101. Was 0x00 instead of 0x01\nNo more differences found.\n')).toEqual([
      { address: 0x08000100, actual: 0xe4, expected: 0xec },
      { address: 0x08000101, actual: 0x00, expected: 0x01 },
    ]);
    expect(parseReadProtection('option byte register = 0x3fffffe\nread protection: on\n')).toBe(true);
    expect(parseReadProtection('read protection: off\n')).toBe(false);
    expect(parseReadProtection('stm32f2x user_options 0xEC')).toBeUndefined();
    expect(parseByteList('0x0 0x50 0x0 0x20', 4)).toEqual(Uint8Array.from([0, 0x50, 0, 0x20]));
    expect(parseByteList('0x0 0x50', 4)).toBeUndefined();
    expect(parseByteList('0x0 0x150', 2)).toBeUndefined();
  });

  it('parses the sector list of flash info', () => {
    const info = '#0 : stm32f1x at 0x08000000, size 0x00010000, buswidth 0, chipwidth 0\n\t#  0: 0x00000000 (0x400 1kB) \n\t#  1: 0x00000400 (0x400 1kB) \n\t# 63: 0x0000fc00 (0x400 1kB) \nSTM32F10x (Medium Density) - Rev: Y\n';
    expect(parseSectors(info)).toEqual([
      { address: 0x08000000, size: 0x400 },
      { address: 0x08000400, size: 0x400 },
      { address: 0x0800fc00, size: 0x400 },
    ]);
  });

  it('recognises the program proc markers', () => {
    expect(parseMarker('** Programming Started **')).toBe('programming-started');
    expect(parseMarker('** Verified OK **')).toBe('verified');
    expect(parseMarker('** OpenOCD init failed **')).toBe('init-failed');
    expect(parseMarker('Info : ** something else **')).toBeUndefined();
  });

  // The exact lines openocd 0.12 prints (seen against the simulated DUT, or from its source).
  const table: Array<[string, string[], string]> = [
    ['CONNECTION_LOST', ["openocd: src/jtag/drivers/remote_bitbang.c:196: remote_bitbang_read_sample: Assertion `!remote_bitbang_recv_buf_empty()' failed."], 'assertion'],
    ['CONNECTION_LOST', ["Error: Error on socket 'remote_bitbang_fill_buf': errno==104, message: Connection reset by peer."], 'socket'],
    ['CONNECTION_LOST', ['Error: libusb_bulk_write error: LIBUSB_ERROR_NO_DEVICE'], 'usb gone'],
    ['PROBE_NOT_FOUND', ["Error: Error on socket 'Failed to connect': errno==9, message: Bad file descriptor."], 'remote_bitbang tcp'],
    ["PROBE_NOT_FOUND", ["Error: Error on socket 'connect': errno==2, message: No such file or directory."], 'remote_bitbang unix'],
    ['PROBE_NOT_FOUND', ['Error: open failed'], 'stlink'],
    ['PROBE_NOT_FOUND', ['Error: No J-Link device found'], 'jlink'],
    ['PROBE_NOT_FOUND', ['Error: unable to find a matching CMSIS-DAP device'], 'cmsis-dap'],
    ['PROBE_NOT_FOUND', ['Error: Cannot open LinuxGPIOD chip 0 for swclk'], 'linuxgpiod'],
    ['PROBE_NOT_FOUND', ['Error: open: Permission denied'], 'bcm2835gpio'],
    ['PROBE_NOT_FOUND', ['Error: The specified debug interface was not found (bcm2835gpio)'], 'driver not built in'],
    ['FLASH_PROTECTED', ['Error: stm32x device protected', 'Error: failed erasing sectors 0 to 3'], 'erase'],
    ['TARGET_NOT_RESPONDING', ['Error: JTAG scan chain interrogation failed: all ones'], 'jtag'],
    ['TARGET_NOT_RESPONDING', ['Error: init mode failed (unable to connect to the target)'], 'stlink swd'],
    ['TARGET_NOT_RESPONDING', ['Error: Error connecting DP: cannot read IDR'], 'cmsis-dap swd'],
    ['TARGET_NOT_RESPONDING', ['Error: timed out while waiting for target halted'], 'halt'],
    ['TARGET_NOT_RESPONDING', ['Error: JTAG-DP STICKY ERROR', 'Error: Failed to read memory at 0x08000004'], 'read'],
    ['PROGRAM_FAILED', ['Error: stm32x device programming failed / flash not erased'], 'program'],
  ];
  it.each(table)('%s from %j (%s)', (code, lines) => {
    const c = classifyFailure({ lines: ['Info : something', 'Warn : not enough working area available(requested 52)', ...lines] });
    expect(c.code).toBe(code);
    expect(c.matched).toBe(true);
  });

  it('puts the exit status first: an abort (134 / SIGABRT) is a lost connection', () => {
    expect(classifyFailure({ lines: ['Error: Failed to read memory at 0x08000004'], exit: { code: null, signal: 'SIGABRT' } }).code).toBe('CONNECTION_LOST');
    expect(classifyFailure({ lines: [], exit: { code: 134, signal: null } }).code).toBe('CONNECTION_LOST');
  });

  it('names the first differing address of a failed verify', () => {
    const c = classifyFailure({ lines: ['Error: checksum mismatch - attempting binary compare'], result: 'diff 0 address 0x08000100. Was 0xe4 instead of 0xec\n' });
    expect(c).toMatchObject({ code: 'VERIFY_FAILED', evidence: 'first difference at 0x08000100' });
  });

  it('never decides on a warning, and says when nothing matched', () => {
    const c = classifyFailure({ lines: ['Warn : Failed to read memory at 0x0', 'Error: something new'] });
    expect(c).toMatchObject({ code: 'PROGRAM_FAILED', matched: false, evidence: 'Error: something new' });
  });

  it("reads each family's lock proof (the strings are openocd 0.12's command_print formats)", () => {
    const { stm32f1, stm32g0, stm32wb, stm32h7, stm32f4, stm32l0 } = CHIP_FAMILIES;
    expect(readProtectionFrom(stm32f1.lockProof, 'option byte register = 0x3fffffe\nwrite protection register = 0xffffffff\nread protection: on\n')).toBe(true);
    expect(readProtectionFrom(stm32f1.lockProof, 'read protection: off\n')).toBe(false);
    // stm32l4x: "Option Register: <0x%x> = 0x%x"; RDP is FLASH_OPTR[7:0], 0xAA = level 0
    expect(readProtectionFrom(stm32g0.lockProof, 'Option Register: <0x40022020> = 0xdffff8aa')).toBe(false);
    expect(readProtectionFrom(stm32g0.lockProof, 'Option Register: <0x40022020> = 0xdffff800')).toBe(true);
    expect(readProtectionFrom(stm32g0.lockProof, 'Option Register: <0x40022020> = 0xdffff8cc')).toBe(true); // level 2
    expect(readProtectionFrom(stm32wb.lockProof, 'Option Register: <0x58004020> = 0x3ffff1aa')).toBe(false);
    expect(readProtectionFrom(stm32wb.lockProof, 'Option Register: <0x40022020> = 0x3ffff100')).toBeUndefined(); // not the WB's register
    // stm32h7x: FLASH_OPTSR_CUR, RDP in bits 15:8
    expect(readProtectionFrom(stm32h7.lockProof, 'Option Register: <0x5200201c> = 0x1c6aaf0')).toBe(false);
    expect(readProtectionFrom(stm32h7.lockProof, 'Option Register: <0x5200201c> = 0x1c600f0')).toBe(true);
    // read_memory ADDR 32 1 returns one number: F4 FLASH_OPTCR RDP bits 15:8, L0 FLASH_OPTR bits 7:0
    expect(readProtectionFrom(stm32f4.lockProof, '0x0fffaaed')).toBe(false);
    expect(readProtectionFrom(stm32f4.lockProof, '0x0fff55ed')).toBe(true);
    expect(readProtectionFrom(stm32l0.lockProof, '0x807000aa')).toBe(false);
    expect(readProtectionFrom(stm32l0.lockProof, '0x80700000')).toBe(true);
    expect(readProtectionFrom(stm32l0.lockProof, 'read_memory: failed')).toBeUndefined();
  });
});
