import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COMPUTED_SIZEOF,
  IOCTL,
  LINE_FLAG,
  OFFSET,
  SIZEOF,
  decodeChipInfo,
  decodeLineEvents,
  decodeLineInfo,
  encodeLineRequest,
  encodeLineValues,
} from '../../../src/devices/gpio/gpio.uapi.js';
import { inputLineRequest, outputLineRequest } from '../../../src/devices/gpio/gpio.chardev.js';
import type { InputSpec, OutputSpec } from '../../../src/devices/gpio/gpio.js';

/**
 * The uAPI layouts against linux/gpio.h itself: a C program compiled here with gcc prints the
 * struct sizes, field offsets, ioctl numbers and the bytes of line requests filled in through the
 * header's own field names and macros; the TypeScript encoders must produce the same bytes.
 * Needs gcc and linux-libc-dev (/usr/include/linux/gpio.h).
 */

type Case = { name: string } & ({ kind: 'input'; spec: InputSpec; clock?: 'realtime' } | { kind: 'output'; spec: OutputSpec });

const CASES: Case[] = [
  { name: 'start button', kind: 'input', spec: { name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' } },
  { name: 'lid switch', kind: 'input', spec: { name: 'lid_closed', line: 22, activeLow: false, debounceMs: 30, bias: 'pull-down' } },
  { name: 'floating, realtime clock', kind: 'input', spec: { name: 'probe', line: 4, activeLow: false, debounceMs: 0, bias: 'disabled' }, clock: 'realtime' },
  { name: 'as-is bias', kind: 'input', spec: { name: 'abort', line: 27, activeLow: true, debounceMs: 10 } },
  { name: 'relay', kind: 'output', spec: { name: 'dut_power', line: 24, activeLow: false } },
  { name: 'active-low relay', kind: 'output', spec: { name: 'buzzer', line: 26, activeLow: true } },
];

/** The same case, filled in with the header's names (not our constants). */
function cFill(c: Case): string {
  const flags: string[] = [];
  const lines = [`r.offsets[0] = ${c.spec.line};`, `strcpy(r.consumer, "pijig ${c.spec.name}");`, 'r.num_lines = 1;'];
  if (c.kind === 'input') {
    flags.push('GPIO_V2_LINE_FLAG_INPUT', 'GPIO_V2_LINE_FLAG_EDGE_RISING', 'GPIO_V2_LINE_FLAG_EDGE_FALLING');
    if (c.spec.activeLow) flags.push('GPIO_V2_LINE_FLAG_ACTIVE_LOW');
    if (c.spec.bias) flags.push({ 'pull-up': 'GPIO_V2_LINE_FLAG_BIAS_PULL_UP', 'pull-down': 'GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN', disabled: 'GPIO_V2_LINE_FLAG_BIAS_DISABLED' }[c.spec.bias]);
    if (c.clock === 'realtime') flags.push('GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME');
    if (c.spec.debounceMs > 0) {
      lines.push(
        'r.config.num_attrs = 1;',
        'r.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_DEBOUNCE;',
        `r.config.attrs[0].attr.debounce_period_us = ${c.spec.debounceMs * 1000};`,
        'r.config.attrs[0].mask = 1;',
      );
    }
  } else {
    flags.push('GPIO_V2_LINE_FLAG_OUTPUT');
    if (c.spec.activeLow) flags.push('GPIO_V2_LINE_FLAG_ACTIVE_LOW');
    lines.push('r.config.num_attrs = 1;', 'r.config.attrs[0].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;', 'r.config.attrs[0].attr.values = 0;', 'r.config.attrs[0].mask = 1;');
  }
  lines.push(`r.config.flags = ${flags.join(' | ')};`);
  return lines.join(' ');
}

const C_SOURCE = `
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <linux/gpio.h>
static void hex(const char *tag, const void *p, size_t n) {
  printf("%s ", tag);
  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
  printf("\\n");
}
#define SZ(s) printf("sizeof %s %zu\\n", #s, sizeof(struct s))
#define OF(s, f, tag) printf("offset %s %zu\\n", tag, offsetof(struct s, f))
#define IO(name) printf("ioctl %s %lu\\n", #name, (unsigned long)name)
#define FL(name) printf("flag %s %llu\\n", #name, (unsigned long long)name)
int main(void) {
  SZ(gpiochip_info); SZ(gpio_v2_line_values); SZ(gpio_v2_line_attribute); SZ(gpio_v2_line_config_attribute);
  SZ(gpio_v2_line_config); SZ(gpio_v2_line_request); SZ(gpio_v2_line_info); SZ(gpio_v2_line_event);
  OF(gpio_v2_line_request, consumer, "request.consumer"); OF(gpio_v2_line_request, config, "request.config");
  OF(gpio_v2_line_request, num_lines, "request.num_lines"); OF(gpio_v2_line_request, event_buffer_size, "request.event_buffer_size");
  OF(gpio_v2_line_request, padding, "request.padding"); OF(gpio_v2_line_request, fd, "request.fd");
  OF(gpio_v2_line_config, num_attrs, "config.num_attrs"); OF(gpio_v2_line_config, padding, "config.padding"); OF(gpio_v2_line_config, attrs, "config.attrs");
  OF(gpio_v2_line_config_attribute, mask, "configAttribute.mask");
  OF(gpio_v2_line_attribute, padding, "attribute.padding"); OF(gpio_v2_line_attribute, flags, "attribute.value");
  OF(gpio_v2_line_values, mask, "values.mask");
  OF(gpio_v2_line_event, id, "event.id"); OF(gpio_v2_line_event, offset, "event.offset"); OF(gpio_v2_line_event, seqno, "event.seqno"); OF(gpio_v2_line_event, line_seqno, "event.line_seqno");
  OF(gpiochip_info, label, "chipInfo.label"); OF(gpiochip_info, lines, "chipInfo.lines");
  OF(gpio_v2_line_info, consumer, "lineInfo.consumer"); OF(gpio_v2_line_info, offset, "lineInfo.offset"); OF(gpio_v2_line_info, num_attrs, "lineInfo.num_attrs");
  OF(gpio_v2_line_info, flags, "lineInfo.flags"); OF(gpio_v2_line_info, attrs, "lineInfo.attrs");
  IO(GPIO_GET_CHIPINFO_IOCTL); IO(GPIO_V2_GET_LINEINFO_IOCTL); IO(GPIO_V2_GET_LINE_IOCTL); IO(GPIO_V2_LINE_SET_CONFIG_IOCTL);
  IO(GPIO_V2_LINE_GET_VALUES_IOCTL); IO(GPIO_V2_LINE_SET_VALUES_IOCTL);
  FL(GPIO_V2_LINE_FLAG_USED); FL(GPIO_V2_LINE_FLAG_ACTIVE_LOW); FL(GPIO_V2_LINE_FLAG_INPUT); FL(GPIO_V2_LINE_FLAG_OUTPUT);
  FL(GPIO_V2_LINE_FLAG_EDGE_RISING); FL(GPIO_V2_LINE_FLAG_EDGE_FALLING); FL(GPIO_V2_LINE_FLAG_OPEN_DRAIN); FL(GPIO_V2_LINE_FLAG_OPEN_SOURCE);
  FL(GPIO_V2_LINE_FLAG_BIAS_PULL_UP); FL(GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN); FL(GPIO_V2_LINE_FLAG_BIAS_DISABLED); FL(GPIO_V2_LINE_FLAG_EVENT_CLOCK_REALTIME);
  ${CASES.map((c, i) => `{ struct gpio_v2_line_request r; memset(&r, 0, sizeof r); ${cFill(c)} hex("request${i}", &r, sizeof r); }`).join('\n  ')}
  { struct gpio_v2_line_values v; memset(&v, 0, sizeof v); v.bits = 1; v.mask = 1; hex("values", &v, sizeof v); }
  { struct gpio_v2_line_event e[2]; memset(e, 0, sizeof e);
    e[0].timestamp_ns = 1234567890123456789ULL; e[0].id = GPIO_V2_LINE_EVENT_FALLING_EDGE; e[0].offset = 17; e[0].seqno = 41; e[0].line_seqno = 7;
    e[1].timestamp_ns = 1234567890143456789ULL; e[1].id = GPIO_V2_LINE_EVENT_RISING_EDGE; e[1].offset = 17; e[1].seqno = 42; e[1].line_seqno = 8;
    hex("events", e, sizeof e); }
  { struct gpiochip_info c; memset(&c, 0, sizeof c); strcpy(c.name, "gpiochip0"); strcpy(c.label, "pinctrl-bcm2711"); c.lines = 58; hex("chipinfo", &c, sizeof c); }
  { struct gpio_v2_line_info l; memset(&l, 0, sizeof l); strcpy(l.name, "GPIO17"); strcpy(l.consumer, "gpiomon"); l.offset = 17;
    l.flags = GPIO_V2_LINE_FLAG_USED | GPIO_V2_LINE_FLAG_INPUT; hex("lineinfo", &l, sizeof l); }
  return 0;
}
`;

let dir: string;
const fromC = { sizeof: new Map<string, number>(), offset: new Map<string, number>(), ioctl: new Map<string, number>(), flag: new Map<string, bigint>(), hex: new Map<string, string>() };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pijig-uapi-'));
  await writeFile(join(dir, 'uapi.c'), C_SOURCE);
  execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-o', join(dir, 'uapi'), join(dir, 'uapi.c')], { timeout: 60_000 });
  const output = execFileSync(join(dir, 'uapi'), { encoding: 'utf8', timeout: 10_000 });
  for (const line of output.trim().split('\n')) {
    const [kind, name, value] = line.split(' ') as [string, string, string?];
    if (kind === 'sizeof') fromC.sizeof.set(name, Number(value));
    else if (kind === 'offset') fromC.offset.set(name, Number(value));
    else if (kind === 'ioctl') fromC.ioctl.set(name, Number(value));
    else if (kind === 'flag') fromC.flag.set(name, BigInt(value!));
    else fromC.hex.set(kind, name);
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GPIO v2 uAPI layout against linux/gpio.h (gcc)', () => {
  it('has the struct sizes of the header, and our field layout adds up to them', () => {
    for (const [name, size] of Object.entries(SIZEOF)) {
      expect(fromC.sizeof.get(name), name).toBe(size);
      expect(COMPUTED_SIZEOF[name as keyof typeof COMPUTED_SIZEOF], `${name} from its fields`).toBe(size);
    }
    // the documented sizes (kernel Documentation/userspace-api/gpio): a request is 592 bytes, an event 48
    expect(SIZEOF.gpio_v2_line_request).toBe(592);
    expect(SIZEOF.gpio_v2_line_event).toBe(48);
  });

  it('has the field offsets of the header', () => {
    for (const [struct, fields] of Object.entries(OFFSET)) {
      for (const [field, offset] of Object.entries(fields)) {
        const key = `${struct}.${field}`;
        if (fromC.offset.has(key)) expect(fromC.offset.get(key), key).toBe(offset);
      }
    }
    expect(fromC.offset.size).toBeGreaterThanOrEqual(20);
  });

  it('has the ioctl numbers of the header', () => {
    expect(fromC.ioctl.get('GPIO_V2_GET_LINE_IOCTL')).toBe(IOCTL.GET_LINE);
    expect(IOCTL.GET_LINE).toBe(0xc250b407); // _IOWR(0xB4, 0x07, 592 bytes)
    expect(fromC.ioctl.get('GPIO_V2_LINE_SET_VALUES_IOCTL')).toBe(IOCTL.LINE_SET_VALUES);
    expect(fromC.ioctl.get('GPIO_V2_LINE_GET_VALUES_IOCTL')).toBe(IOCTL.LINE_GET_VALUES);
    expect(fromC.ioctl.get('GPIO_V2_LINE_SET_CONFIG_IOCTL')).toBe(IOCTL.LINE_SET_CONFIG);
    expect(fromC.ioctl.get('GPIO_GET_CHIPINFO_IOCTL')).toBe(IOCTL.GET_CHIPINFO);
    expect(fromC.ioctl.get('GPIO_V2_GET_LINEINFO_IOCTL')).toBe(IOCTL.GET_LINEINFO);
  });

  it('has the flag bits of the header', () => {
    for (const [name, bit] of Object.entries(LINE_FLAG)) {
      if (name === 'EVENT_CLOCK_HTE') continue; // not in every header version
      expect(fromC.flag.get(`GPIO_V2_LINE_FLAG_${name}`), name).toBe(bit);
    }
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('encodes the line request for %s byte for byte as C does', (_name, c, i) => {
    const request = c.kind === 'input' ? inputLineRequest(c.spec, c.clock ? { eventClock: c.clock } : {}) : outputLineRequest(c.spec);
    expect(encodeLineRequest(request).toString('hex')).toBe(fromC.hex.get(`request${i}`));
  });

  it('encodes line values, and decodes events, chip info and line info as C lays them out', () => {
    expect(encodeLineValues(1n, 1n).toString('hex')).toBe(fromC.hex.get('values'));
    const events = decodeLineEvents(Buffer.from(fromC.hex.get('events')!, 'hex'));
    expect(events).toEqual([
      { timestampNs: 1234567890123456789n, edge: 'falling', offset: 17, seqno: 41, lineSeqno: 7 },
      { timestampNs: 1234567890143456789n, edge: 'rising', offset: 17, seqno: 42, lineSeqno: 8 },
    ]);
    expect(decodeChipInfo(Buffer.from(fromC.hex.get('chipinfo')!, 'hex'))).toEqual({ name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: 58 });
    expect(decodeLineInfo(Buffer.from(fromC.hex.get('lineinfo')!, 'hex'))).toEqual({ name: 'GPIO17', consumer: 'gpiomon', offset: 17, flags: LINE_FLAG.USED | LINE_FLAG.INPUT });
  });

  it('decodes only whole events and refuses an unknown event id', () => {
    const two = Buffer.from(fromC.hex.get('events')!, 'hex');
    expect(decodeLineEvents(two.subarray(0, 48 + 20))).toHaveLength(1);
    const bad = Buffer.from(two);
    bad.writeUInt32LE(9, OFFSET.event.id);
    expect(() => decodeLineEvents(bad)).toThrow(/unknown GPIO event id 9/);
  });

  it('refuses requests the kernel could not take', () => {
    expect(() => encodeLineRequest({ offsets: [], consumer: 'x', flags: 0n })).toThrow(/1\.\.64 lines/);
    expect(() => encodeLineRequest({ offsets: [1], consumer: 'x'.repeat(32), flags: 0n })).toThrow(/longer than 31 bytes/);
    // a long line name is cut to the 31 bytes the kernel keeps, not refused
    expect(inputLineRequest({ name: 'light_sensors.a-very-long-sensor-name', line: 23, activeLow: false, debounceMs: 0 }).consumer).toBe('pijig light_sensors.a-very-long');
  });
});
