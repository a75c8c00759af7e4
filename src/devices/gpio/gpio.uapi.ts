/**
 * The Linux GPIO character-device uAPI, v2 (include/uapi/linux/gpio.h, kernel >= 5.10): struct
 * layouts, flags and ioctl numbers, as plain bytes. No FFI here: these encoders are checked byte
 * for byte against the header compiled with gcc (test/devices/gpio/uapi.test.ts).
 *
 * The v2 structs are built from __u32 and __aligned_u64 with explicit padding, so their layout is
 * the same on every Linux ABI (x86-64, arm64, 32-bit arm). Integers are little-endian: the Pi's
 * arm64/armhf and x86-64 are all little-endian.
 */

export const GPIO_MAX_NAME_SIZE = 32;
export const GPIO_V2_LINES_MAX = 64;
export const GPIO_V2_LINE_NUM_ATTRS_MAX = 10;

/** enum gpio_v2_line_flag: bits of a 64-bit flags word. */
export const LINE_FLAG = {
  USED: 1n << 0n,
  ACTIVE_LOW: 1n << 1n,
  INPUT: 1n << 2n,
  OUTPUT: 1n << 3n,
  EDGE_RISING: 1n << 4n,
  EDGE_FALLING: 1n << 5n,
  OPEN_DRAIN: 1n << 6n,
  OPEN_SOURCE: 1n << 7n,
  BIAS_PULL_UP: 1n << 8n,
  BIAS_PULL_DOWN: 1n << 9n,
  BIAS_DISABLED: 1n << 10n,
  EVENT_CLOCK_REALTIME: 1n << 11n,
  EVENT_CLOCK_HTE: 1n << 12n,
} as const;

/** enum gpio_v2_line_attr_id */
export const LINE_ATTR_ID = { FLAGS: 1, OUTPUT_VALUES: 2, DEBOUNCE: 3 } as const;

/** enum gpio_v2_line_event_id */
export const LINE_EVENT_ID = { RISING_EDGE: 1, FALLING_EDGE: 2 } as const;

/** Struct sizes in bytes (what gcc reports for linux/gpio.h on x86-64 and arm64). */
export const SIZEOF = {
  gpiochip_info: 68,
  gpio_v2_line_values: 16,
  gpio_v2_line_attribute: 16,
  gpio_v2_line_config_attribute: 24,
  gpio_v2_line_config: 272,
  gpio_v2_line_request: 592,
  gpio_v2_line_info: 256,
  gpio_v2_line_event: 48,
} as const;

/** Field offsets used by the encoders below. */
export const OFFSET = {
  request: { offsets: 0, consumer: 256, config: 288, num_lines: 560, event_buffer_size: 564, padding: 568, fd: 588 },
  config: { flags: 0, num_attrs: 8, padding: 12, attrs: 32 },
  configAttribute: { attr: 0, mask: 16 },
  attribute: { id: 0, padding: 4, value: 8 },
  values: { bits: 0, mask: 8 },
  event: { timestamp_ns: 0, id: 8, offset: 12, seqno: 16, line_seqno: 20 },
  chipInfo: { name: 0, label: 32, lines: 64 },
  lineInfo: { name: 0, consumer: 32, offset: 64, num_attrs: 68, flags: 72, attrs: 80 },
} as const;

/** Sizes computed from the field layout above, so a wrong offset shows up as a wrong size too. */
export const COMPUTED_SIZEOF = {
  gpio_v2_line_values: 8 + 8,
  gpio_v2_line_attribute: 4 + 4 + 8,
  gpio_v2_line_config_attribute: 16 + 8,
  gpio_v2_line_config: 8 + 4 + 5 * 4 + GPIO_V2_LINE_NUM_ATTRS_MAX * 24,
  gpio_v2_line_request: GPIO_V2_LINES_MAX * 4 + GPIO_MAX_NAME_SIZE + (8 + 4 + 5 * 4 + GPIO_V2_LINE_NUM_ATTRS_MAX * 24) + 4 + 4 + 5 * 4 + 4,
  gpio_v2_line_info: 2 * GPIO_MAX_NAME_SIZE + 4 + 4 + 8 + GPIO_V2_LINE_NUM_ATTRS_MAX * 16 + 4 * 4,
  gpio_v2_line_event: 8 + 4 * 4 + 6 * 4,
  gpiochip_info: 2 * GPIO_MAX_NAME_SIZE + 4,
} as const;

/** _IOC() of asm-generic/ioctl.h (x86-64, arm, arm64): dir:2 | size:14 | type:8 | nr:8. */
const IOC_WRITE = 1;
const IOC_READ = 2;
function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size >= 1 << 14) throw new RangeError(`ioctl argument of ${size} bytes does not fit _IOC's 14-bit size`);
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
const GPIO_IOC_MAGIC = 0xb4;

export const IOCTL = {
  /** _IOR(0xB4, 0x01, struct gpiochip_info) */
  GET_CHIPINFO: ioc(IOC_READ, GPIO_IOC_MAGIC, 0x01, SIZEOF.gpiochip_info),
  /** _IOWR(0xB4, 0x05, struct gpio_v2_line_info) */
  GET_LINEINFO: ioc(IOC_READ | IOC_WRITE, GPIO_IOC_MAGIC, 0x05, SIZEOF.gpio_v2_line_info),
  /** _IOWR(0xB4, 0x07, struct gpio_v2_line_request) */
  GET_LINE: ioc(IOC_READ | IOC_WRITE, GPIO_IOC_MAGIC, 0x07, SIZEOF.gpio_v2_line_request),
  /** _IOWR(0xB4, 0x0D, struct gpio_v2_line_config) */
  LINE_SET_CONFIG: ioc(IOC_READ | IOC_WRITE, GPIO_IOC_MAGIC, 0x0d, SIZEOF.gpio_v2_line_config),
  /** _IOWR(0xB4, 0x0E, struct gpio_v2_line_values) */
  LINE_GET_VALUES: ioc(IOC_READ | IOC_WRITE, GPIO_IOC_MAGIC, 0x0e, SIZEOF.gpio_v2_line_values),
  /** _IOWR(0xB4, 0x0F, struct gpio_v2_line_values) */
  LINE_SET_VALUES: ioc(IOC_READ | IOC_WRITE, GPIO_IOC_MAGIC, 0x0f, SIZEOF.gpio_v2_line_values),
} as const;

import type { GpioBias } from './gpio.js';

export const BIAS_FLAG: Record<GpioBias, bigint> = {
  'pull-up': LINE_FLAG.BIAS_PULL_UP,
  'pull-down': LINE_FLAG.BIAS_PULL_DOWN,
  disabled: LINE_FLAG.BIAS_DISABLED,
};

/** One entry of gpio_v2_line_config.attrs: an attribute applied to the lines in `mask`. */
export type LineAttribute =
  | { id: 'flags'; flags: bigint; mask: bigint }
  | { id: 'output_values'; values: bigint; mask: bigint }
  | { id: 'debounce'; periodUs: number; mask: bigint };

export interface LineRequest {
  /** Line offsets on the chip (BCM numbers on the Pi's main chip). */
  offsets: number[];
  /** Shown by `gpioinfo` as the line's user; at most 31 bytes. */
  consumer: string;
  /** Flags for every line unless an attribute overrides them. */
  flags: bigint;
  attrs?: LineAttribute[];
  /** Edge events the kernel buffers; 0 = its default (16 per line). */
  eventBufferSize?: number;
}

/** struct gpio_v2_line_request, ready for GPIO_V2_GET_LINE_IOCTL (the kernel writes `fd` back). */
export function encodeLineRequest(req: LineRequest): Buffer {
  const { offsets, consumer, flags, attrs = [], eventBufferSize = 0 } = req;
  if (offsets.length < 1 || offsets.length > GPIO_V2_LINES_MAX) throw new RangeError(`a line request takes 1..${GPIO_V2_LINES_MAX} lines, not ${offsets.length}`);
  const buf = Buffer.alloc(SIZEOF.gpio_v2_line_request);
  offsets.forEach((o, i) => buf.writeUInt32LE(o, OFFSET.request.offsets + 4 * i));
  const name = Buffer.from(consumer, 'utf8');
  if (name.length >= GPIO_MAX_NAME_SIZE) throw new RangeError(`consumer "${consumer}" is longer than ${GPIO_MAX_NAME_SIZE - 1} bytes`);
  name.copy(buf, OFFSET.request.consumer);
  encodeLineConfig({ flags, attrs }).copy(buf, OFFSET.request.config);
  buf.writeUInt32LE(offsets.length, OFFSET.request.num_lines);
  buf.writeUInt32LE(eventBufferSize, OFFSET.request.event_buffer_size);
  return buf;
}

/** struct gpio_v2_line_config */
export function encodeLineConfig(config: { flags: bigint; attrs?: LineAttribute[] }): Buffer {
  const attrs = config.attrs ?? [];
  if (attrs.length > GPIO_V2_LINE_NUM_ATTRS_MAX) throw new RangeError(`at most ${GPIO_V2_LINE_NUM_ATTRS_MAX} line attributes, not ${attrs.length}`);
  const buf = Buffer.alloc(SIZEOF.gpio_v2_line_config);
  buf.writeBigUInt64LE(config.flags, OFFSET.config.flags);
  buf.writeUInt32LE(attrs.length, OFFSET.config.num_attrs);
  attrs.forEach((a, i) => {
    const at = OFFSET.config.attrs + i * SIZEOF.gpio_v2_line_config_attribute;
    const value = at + OFFSET.configAttribute.attr + OFFSET.attribute.value;
    buf.writeUInt32LE(LINE_ATTR_ID[a.id === 'flags' ? 'FLAGS' : a.id === 'output_values' ? 'OUTPUT_VALUES' : 'DEBOUNCE'], at + OFFSET.attribute.id);
    if (a.id === 'flags') buf.writeBigUInt64LE(a.flags, value);
    else if (a.id === 'output_values') buf.writeBigUInt64LE(a.values, value);
    else buf.writeUInt32LE(a.periodUs, value); // the union's __u32 member: the low half on little-endian
    buf.writeBigUInt64LE(a.mask, at + OFFSET.configAttribute.mask);
  });
  return buf;
}

/** struct gpio_v2_line_values, for GET_VALUES (bits = 0) and SET_VALUES. */
export function encodeLineValues(bits: bigint, mask: bigint): Buffer {
  const buf = Buffer.alloc(SIZEOF.gpio_v2_line_values);
  buf.writeBigUInt64LE(bits, OFFSET.values.bits);
  buf.writeBigUInt64LE(mask, OFFSET.values.mask);
  return buf;
}

export function decodeLineValues(buf: Buffer): { bits: bigint; mask: bigint } {
  return { bits: buf.readBigUInt64LE(OFFSET.values.bits), mask: buf.readBigUInt64LE(OFFSET.values.mask) };
}

/** The fd the kernel wrote into a line request after GPIO_V2_GET_LINE_IOCTL. */
export function requestFd(buf: Buffer): number {
  return buf.readInt32LE(OFFSET.request.fd);
}

export interface LineEvent {
  /** CLOCK_MONOTONIC (default) or CLOCK_REALTIME nanoseconds of the edge, as the kernel saw it. */
  timestampNs: bigint;
  /** Rising = inactive to active when the line is active-low in the kernel (edges are logical). */
  edge: 'rising' | 'falling';
  offset: number;
  /** Sequence number over all lines of the request, and of this line: a gap means lost events. */
  seqno: number;
  lineSeqno: number;
}

/** Decode every whole struct gpio_v2_line_event in `buf` (a read() returns whole events only). */
export function decodeLineEvents(buf: Uint8Array): LineEvent[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const events: LineEvent[] = [];
  for (let at = 0; at + SIZEOF.gpio_v2_line_event <= buf.byteLength; at += SIZEOF.gpio_v2_line_event) {
    const id = view.getUint32(at + OFFSET.event.id, true);
    if (id !== LINE_EVENT_ID.RISING_EDGE && id !== LINE_EVENT_ID.FALLING_EDGE) throw new RangeError(`unknown GPIO event id ${id}`);
    events.push({
      timestampNs: view.getBigUint64(at + OFFSET.event.timestamp_ns, true),
      edge: id === LINE_EVENT_ID.RISING_EDGE ? 'rising' : 'falling',
      offset: view.getUint32(at + OFFSET.event.offset, true),
      seqno: view.getUint32(at + OFFSET.event.seqno, true),
      lineSeqno: view.getUint32(at + OFFSET.event.line_seqno, true),
    });
  }
  return events;
}

export function decodeChipInfo(buf: Buffer): { name: string; label: string; lines: number } {
  return {
    name: cString(buf, OFFSET.chipInfo.name, GPIO_MAX_NAME_SIZE),
    label: cString(buf, OFFSET.chipInfo.label, GPIO_MAX_NAME_SIZE),
    lines: buf.readUInt32LE(OFFSET.chipInfo.lines),
  };
}

/** struct gpio_v2_line_info with `offset` set, for GPIO_V2_GET_LINEINFO_IOCTL. */
export function encodeLineInfoQuery(offset: number): Buffer {
  const buf = Buffer.alloc(SIZEOF.gpio_v2_line_info);
  buf.writeUInt32LE(offset, OFFSET.lineInfo.offset);
  return buf;
}

export function decodeLineInfo(buf: Buffer): { name: string; consumer: string; offset: number; flags: bigint } {
  return {
    name: cString(buf, OFFSET.lineInfo.name, GPIO_MAX_NAME_SIZE),
    consumer: cString(buf, OFFSET.lineInfo.consumer, GPIO_MAX_NAME_SIZE),
    offset: buf.readUInt32LE(OFFSET.lineInfo.offset),
    flags: buf.readBigUInt64LE(OFFSET.lineInfo.flags),
  };
}

function cString(buf: Buffer, at: number, size: number): string {
  const end = buf.indexOf(0, at);
  return buf.toString('utf8', at, end < 0 || end > at + size ? at + size : end);
}
