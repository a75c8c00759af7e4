import { z } from 'zod';
import { resolve, dirname } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { YamlSource } from './yaml.js';
import { chipFamily, probeScriptProblem, type ChipFamily } from '../core/chip-families.js';
import type { ConfigIssue } from './errors.js';
import { macRange, rangeProblem, serialRange, type IdentityBlock } from '../core/blocks.js';
import { resetPull } from './pi-header.js';

/** BCM GPIO lines on the Raspberry Pi's 40-pin header. */
export const HEADER_LINES = { min: 2, max: 27 } as const;

const line = z
  .int({ error: 'must be a whole BCM GPIO number' })
  .min(HEADER_LINES.min, { error: `unknown pin: BCM GPIO lines on the header are ${HEADER_LINES.min}..${HEADER_LINES.max}` })
  .max(HEADER_LINES.max, { error: `unknown pin: BCM GPIO lines on the header are ${HEADER_LINES.min}..${HEADER_LINES.max}` });

const i2cAddress = z
  .int({ error: 'must be a 7-bit I2C address such as 0x3c' })
  .min(0x03, { error: 'I2C addresses run from 0x03 to 0x77' })
  .max(0x77, { error: 'I2C addresses run from 0x03 to 0x77' });

const input = z.strictObject({
  line,
  active_low: z.boolean().default(false).describe('true when the switch pulls the line to ground when active'),
  debounce_ms: z.number().min(0).max(1000).default(20),
  bias: z
    .enum(['pull-up', 'pull-down', 'disabled'])
    .optional()
    .describe(
      "the pin's internal pull resistor (gpio.backend chardev). Absent: left as the Pi set it - BCM 0-8 pull up, 9-27 pull down at reset. A button to GND needs pull-up",
    ),
});

const output = z.strictObject({
  line,
  active_low: z.boolean().default(false),
});

const hexOrInt = (what: string) =>
  z.union([z.int().nonnegative(), z.string().regex(/^0x[0-9a-fA-F]+$/, { error: `${what}: a number or a hex string like 0x3F000000` }).transform((v) => Number.parseInt(v, 16))]);

/**
 * The debug probe: everything the openocd driver reads comes from here (its type is derived from
 * this schema, never written beside it).
 */
export const probeSchema = z
  .strictObject({
    kind: z.enum(['stlink', 'jlink', 'cmsis-dap', 'linuxgpiod', 'bcm2835gpio', 'remote_bitbang']).describe('the openocd adapter'),
    target: z.string().min(1).default('target/stm32f1x.cfg').describe('openocd target config'),
    family: z.string().regex(/^[a-z0-9_]+$/).optional().describe('chip family for lock and option-byte commands (default: the target script name, e.g. stm32f1x)'),
    speed_khz: z.int().positive().optional(),
    transport: z.enum(['swd', 'jtag']).optional().describe('debug transport; default: the adapter\'s own'),
    serial: z.string().optional().describe('adapter serial number, when several probes are attached'),
    extra_commands: z.array(z.string()).default([]).describe('openocd commands run after the adapter and target, before init'),
    gpio: z
      .strictObject({
        chip: z.int().min(0).default(0).describe('gpiochip number (linuxgpiod)'),
        swclk: line.optional(),
        swdio: line.optional(),
        tck: line.optional(),
        tms: line.optional(),
        tdi: line.optional(),
        tdo: line.optional(),
        srst: line.optional(),
        trst: line.optional(),
      })
      .optional()
      .describe('pins for the linuxgpiod/bcm2835gpio adapters (SWD or JTAG bit-banged from the Pi header)'),
    peripheral_base: hexOrInt('peripheral_base').optional().describe('bcm2835gpio: 0x20000000 (Pi 1/Zero), 0x3F000000 (Pi 2/3), 0xFE000000 (Pi 4)'),
    remote_bitbang: z
      .union([z.strictObject({ host: z.string().default('127.0.0.1'), port: z.int().min(1).max(65535) }), z.strictObject({ path: z.string() })])
      .optional(),
    work_area_size: z.int().min(0).optional().describe('WORKAREASIZE for the target script; 0 writes flash over the debug port without the on-target loader'),
    deadlines: z
      .strictObject({
        open_ms: z.int().positive().default(15_000).describe('spawn to a halted target'),
        command_ms: z.int().positive().default(15_000).describe('any single command without a size'),
        per_kib_ms: z.int().positive().default(2_000).describe('added per KiB written or read back'),
      })
      .default({ open_ms: 15_000, command_ms: 15_000, per_kib_ms: 2_000 })
      .describe('every openocd command ends in SIGKILL at its deadline'),
    openocd: z.string().default('openocd').describe('the openocd binary'),
  })
  .superRefine((p, ctx) => {
    const gpioAdapter = p.kind === 'linuxgpiod' || p.kind === 'bcm2835gpio';
    if (gpioAdapter) {
      const transport = p.transport ?? 'swd';
      const pins = transport === 'swd' ? (['swclk', 'swdio'] as const) : (['tck', 'tms', 'tdi', 'tdo'] as const);
      for (const pin of pins) if (p.gpio?.[pin] === undefined) ctx.addIssue({ code: 'custom', path: p.gpio ? ['gpio', pin] : ['gpio'], message: `probe kind ${p.kind} over ${transport} needs gpio.${pin}` });
    } else if (p.gpio) {
      ctx.addIssue({ code: 'custom', path: ['gpio'], message: `probe kind ${p.kind} takes no gpio pins (only linuxgpiod and bcm2835gpio do)` });
    }
    if (p.kind === 'bcm2835gpio' && p.peripheral_base === undefined) ctx.addIssue({ code: 'custom', path: ['peripheral_base'], message: 'probe kind bcm2835gpio needs peripheral_base: 0x20000000 (Pi 1/Zero), 0x3F000000 (Pi 2/3) or 0xFE000000 (Pi 4)' });
    if (p.kind !== 'bcm2835gpio' && p.peripheral_base !== undefined) ctx.addIssue({ code: 'custom', path: ['peripheral_base'], message: 'only probe kind bcm2835gpio takes peripheral_base' });
    if (p.kind === 'remote_bitbang' && !p.remote_bitbang) ctx.addIssue({ code: 'custom', path: ['remote_bitbang'], message: 'probe kind remote_bitbang needs remote_bitbang.port (and host) or .path' });
    if (p.kind !== 'remote_bitbang' && p.remote_bitbang) ctx.addIssue({ code: 'custom', path: ['remote_bitbang'], message: `probe kind ${p.kind} takes no remote_bitbang section` });
    if (p.kind === 'remote_bitbang' && p.transport === 'swd') ctx.addIssue({ code: 'custom', path: ['transport'], message: 'remote_bitbang in openocd 0.12 supports JTAG only' });
    // The chip family (its lock, lock proof and mass erase) must be one the chip table knows.
    let family: ChipFamily | undefined;
    try {
      family = chipFamily(p.family ?? p.target);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [p.family ? 'family' : 'target'], message: `${(err as Error).message}${p.family ? '' : '; for a custom target script, set probe.family'}` });
    }
    if (family?.swdOnly && (p.transport === 'jtag' || p.kind === 'remote_bitbang')) {
      ctx.addIssue({ code: 'custom', path: [p.kind === 'remote_bitbang' ? 'kind' : 'transport'], message: `${family.name} parts have no JTAG port (SWD only)${p.kind === 'remote_bitbang' ? ", and openocd 0.12's remote_bitbang speaks JTAG only" : ': use transport swd'}` });
    }
  });

export type ProbeConfig = z.output<typeof probeSchema>;

/** The USB stick: where it is mounted and which bundles this station accepts. */
export const mediaSchema = z.strictObject({
  mount_dir: z.string().default('/media/pijig'),
  product: z.string().optional().describe('only bundles for this product are accepted'),
  target: z.string().default('stm32f103c8').describe('the MCU this station programs; a bundle for another target is refused'),
  allow_downgrade: z.boolean().default(false),
  max_file_mb: z.number().positive().default(16).describe('largest file (region image or plan) a bundle may hold'),
  public_keys: z.array(z.strictObject({ name: z.string().min(1), public_key: z.string().min(1) })).default([]).describe('the keys bundles may be signed with: PEM or base64 of the 32 raw Ed25519 bytes'),
});

export type MediaConfig = z.output<typeof mediaSchema>;

/** One MQTT topic level or more ("factory/line1"): no wildcards, no empty level, no leading or trailing "/". */
const TOPIC_PREFIX = /^[^/+#\u0000]+(\/[^/+#\u0000]+)*$/;

/**
 * The MQTT broker the station publishes to (docs/mqtt.md): every unit record, the retained status
 * and the step events. A broker that is away or refuses the station never stops a cycle; records
 * wait in the journal. File paths are relative to this file.
 */
export const mqttSchema = z
  .strictObject({
    url: z
      .string()
      .describe('mqtt://host[:port] (default port 1883) or mqtts://host[:port] (TLS, default 8883)')
      .superRefine((text, ctx) => {
        const problem = mqttUrlProblem(text);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    client_id: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/, { error: 'printable ASCII without spaces, 1-128 characters' })
      .optional()
      .describe('default pijig-<station_id>; must be unique on the broker (a second client with the same id takes the connection over)'),
    topic_prefix: z
      .string()
      .regex(TOPIC_PREFIX, { error: 'topic levels such as factory/line1: no "+" or "#", no empty level, no leading or trailing "/"' })
      .default('pijig')
      .describe('topics are <topic_prefix>/<station_id>/units, /status and /events'),
    username: z.string().min(1).optional(),
    password_file: z.string().min(1).optional().describe('a file holding the password (first line); keep it readable by pijig only'),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional().describe("PEM file of the CA that signed the broker's certificate (default: the system's CAs)"),
        cert: z.string().min(1).optional().describe("PEM file of this station's client certificate"),
        key: z.string().min(1).optional().describe("PEM file of this station's client key"),
      })
      .optional()
      .describe('for mqtts:// only; the broker certificate is always verified'),
    keepalive_s: z.int().min(5).max(3600).default(30).describe('MQTT keepalive: a silent broker is noticed after 1.5 times this'),
    reconnect_ms: z.int().min(100).max(600_000).default(5000).describe('wait between connection attempts'),
    connect_timeout_ms: z.int().min(1000).max(120_000).default(10_000).describe('TCP + TLS + CONNACK'),
    ack_timeout_ms: z.int().min(1000).max(600_000).default(30_000).describe('a batch of records not acknowledged within this is sent again'),
    status_interval_ms: z.int().min(0).max(3_600_000).default(1000).describe('the retained status is published on change, at most this often'),
  })
  .superRefine((m, ctx) => {
    const tlsUrl = m.url.startsWith('mqtts://');
    if (m.tls && !tlsUrl) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls needs an mqtts:// url' });
    if (m.tls && (m.tls.cert === undefined) !== (m.tls.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls', m.tls.cert === undefined ? 'cert' : 'key'], message: 'a client certificate needs both tls.cert and tls.key' });
    }
    if (m.password_file !== undefined && m.username === undefined) ctx.addIssue({ code: 'custom', path: ['password_file'], message: 'password_file needs username' });
  });

export type MqttConfig = z.output<typeof mqttSchema>;

/** Why `text` is not a broker URL pijig can use, or undefined. */
export function mqttUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL: mqtt://host[:port] or mqtts://host[:port]';
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') return `${url.protocol}// is not supported: use mqtt:// or mqtts://`;
  if (!url.hostname) return 'the URL names no host';
  if (url.username || url.password) return 'no credentials in the URL (the station file is readable by anyone on the jig): use username and password_file';
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) return 'a broker URL is mqtt://host[:port] with no path, query or fragment';
  return undefined;
}

/** Variables a label's QR payload may hold. */
export const LABEL_VARIABLES = ['unit.serial', 'unit.mac', 'unit.id', 'unit.date', 'product', 'image.version', 'station'] as const;

/** Text lines a label can carry, in the order they are listed. */
export const LABEL_FIELDS = ['serial', 'mac', 'product', 'version', 'date', 'station'] as const;

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, { error: 'host:port, e.g. 10.0.0.50:9100 (a raw ZPL port)' })
  .refine((v) => !/:\d+$/.test(v) || (Number(v.slice(v.lastIndexOf(':') + 1)) >= 1 && Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535), { error: 'port numbers run from 1 to 65535' });

/**
 * The label printer: a ZPL printer (Zebra and compatibles) on USB (`/dev/usb/lpN`) or the network
 * (raw TCP, port 9100). Each unit's label is printed after its record is journaled.
 */
export const labelSchema = z
  .strictObject({
    printer: z.literal('zpl').default('zpl').describe('printer language: ZPL II (Zebra and compatibles)'),
    connection: z
      .union([
        z.strictObject({ usb: z.string().regex(/^\/dev\/\S+$/, { error: 'a device path such as /dev/usb/lp0 (or a udev symlink)' }) }),
        z.strictObject({ tcp: hostPort }),
      ], { error: 'usb: /dev/usb/lpN or tcp: host:9100' })
      .describe('usb: /dev/usb/lpN (usblp), or tcp: host:port (raw port 9100)'),
    size_mm: z
      .strictObject({ width: z.number().min(15).max(120), height: z.number().min(10).max(200) })
      .default({ width: 50, height: 25 })
      .describe('the label, as loaded in the printer'),
    dpi: z.union([z.literal(152), z.literal(203), z.literal(300), z.literal(600)], { error: 'the print head: 152, 203, 300 or 600 dpi' }).default(203),
    fields: z.array(z.enum(LABEL_FIELDS)).min(1).default(['serial', 'mac', 'product', 'version', 'date']).describe('text lines beside the QR code, in this order'),
    qr: z
      .string()
      .min(1)
      .max(200)
      .default('${unit.serial}')
      .describe('what the QR code holds: text with ${unit.serial}, ${unit.mac}, ${unit.id}, ${unit.date}, ${product}, ${image.version}, ${station}; e.g. https://example.com/u/${unit.serial}'),
    qr_ecc: z.enum(['L', 'M', 'Q', 'H']).default('M').describe('QR error correction level'),
    print: z.enum(['pass', 'pass-and-reject']).default('pass').describe('pass: a label for each PASS unit; pass-and-reject: also an inverted REJECT label for each FAIL'),
    status_query: z
      .boolean()
      .default(true)
      .describe('ask the printer for its status (~HS) before and after each label; false for printers that never answer: a label then counts as printed once its bytes are written'),
    deadlines: z
      .strictObject({
        connect_ms: z.int().positive().default(3000).describe('open the device or the TCP connection'),
        write_ms: z.int().positive().default(10_000).describe('write one label'),
        status_ms: z.int().positive().default(2000).describe('the answer to ~HS'),
      })
      .default({ connect_ms: 3000, write_ms: 10_000, status_ms: 2000 }),
    poll_ms: z.int().min(50).default(500).describe('while a label is in the printer: how often to ask whether it has printed'),
  })
  .superRefine((l, ctx) => {
    for (const m of l.qr.matchAll(/\$\{([^}]*)\}/g)) {
      if (!(LABEL_VARIABLES as readonly string[]).includes(m[1]!)) ctx.addIssue({ code: 'custom', path: ['qr'], message: `unknown variable \${${m[1]}}: known are ${LABEL_VARIABLES.map((v) => `\${${v}}`).join(', ')}` });
    }
    const dup = l.fields.find((f, i) => l.fields.indexOf(f) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['fields'], message: `field "${dup}" is listed twice` });
  });

export type LabelConfig = z.output<typeof labelSchema>;

const lightSensor = z.discriminatedUnion('kind', [
  z.strictObject({ name: z.string().min(1), kind: z.literal('photo'), line, active_low: z.boolean().default(false) }),
  z.strictObject({ name: z.string().min(1), kind: z.literal('color'), address: i2cAddress.default(0x29) }),
]);

export const stationSchema = z
  .strictObject({
    station_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'letters, digits, . _ - (it names log folders on the USB stick)' }),
    data_dir: z.string().min(1).default('/var/lib/pijig'),
    plan: z.string().min(1).optional().describe('test plan used when no image bundle is active (relative to this file)'),
    gpio: z.strictObject({
      backend: z
        .enum(['auto', 'chardev', 'sysfs'])
        .default('auto')
        .describe('chardev: /dev/gpiochipN (sets bias, kernel debounce); sysfs: onoff (cannot set pull resistors); auto: chardev when /dev/gpiochip0 exists and koffi loads'),
      chip: z.string().min(1).optional().describe("chardev: a /dev/gpiochipN path or a chip label (default: the Pi's main GPIO controller, found by label)"),
      inputs: z.strictObject({ start: input, abort: input, lid_closed: input }),
      outputs: z.strictObject({
        dut_power: output,
        light_green: output.optional(),
        light_red: output.optional(),
        light_amber: output.optional(),
        buzzer: output.optional(),
      }),
    }),
    i2c: z.strictObject({ bus: z.int().min(0).max(31).default(1) }).default({ bus: 1 }),
    display: z.strictObject({ controller: z.enum(['ssd1306', 'sh1106']).default('ssd1306'), address: i2cAddress.default(0x3c) }),
    power_monitor: z
      .strictObject({
        address: i2cAddress.default(0x40),
        shunt_ohms: z.number().positive().default(0.1),
        max_current_a: z.number().positive().default(0.4),
      })
      .optional(),
    light_sensors: z.array(lightSensor).default([]),
    console: z.strictObject({ path: z.string().min(1), baud: z.int().positive().default(115200) }).optional(),
    scanner: z
      .discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('serial'), path: z.string().min(1).describe('/dev/ttyACM0 (USB-CDC) or /dev/ttyUSB0'), baud: z.int().positive().default(9600) }),
        z.strictObject({ kind: z.literal('hid'), path: z.string().min(1).describe('the scanner\'s input event device, e.g. /dev/input/by-id/usb-...-event-kbd') }),
      ])
      .optional()
      .describe('barcode scanner for board labels: the label goes into the record; a plan can require a scan before START'),
    probe: probeSchema.optional(),
    media: mediaSchema.optional(),
    mqtt: mqttSchema.optional(),
    label: labelSchema.optional().describe('the label printer: a label with the serial number and a QR code for each unit'),
    identity: z
      .strictObject({
        serial_prefix: z.string().regex(/^[A-Z0-9-]{0,16}$/).default('PJ'),
        serial_digits: z.int().min(4).max(12).default(6),
        first: z.int().min(0).default(1),
        count: z.int().positive().default(100000),
        mac_first: z.string().regex(/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/, { error: 'a MAC like 02:00:00:00:00:01' }).default('02:50:4a:00:00:01'),
      })
      .default({ serial_prefix: 'PJ', serial_digits: 6, first: 1, count: 100000, mac_first: '02:50:4a:00:00:01' }),
  })
  .superRefine((s, ctx) => {
    // A line wired to two functions is a wiring error the jig cannot survive.
    const used = new Map<number, string>();
    const claim = (l: number, path: (string | number)[]) => {
      const prior = used.get(l);
      if (prior) ctx.addIssue({ code: 'custom', path, message: `GPIO ${l} is already used by ${prior}` });
      else used.set(l, path.join('.'));
    };
    for (const [name, spec] of Object.entries(s.gpio.inputs)) claim(spec.line, ['gpio', 'inputs', name, 'line']);
    for (const [name, spec] of Object.entries(s.gpio.outputs)) if (spec) claim(spec.line, ['gpio', 'outputs', name, 'line']);
    s.light_sensors.forEach((sensor, i) => sensor.kind === 'photo' && claim(sensor.line, ['light_sensors', i, 'line']));
    if (s.probe?.gpio) {
      for (const pin of ['swclk', 'swdio', 'tck', 'tms', 'tdi', 'tdo', 'srst', 'trst'] as const) {
        const l = s.probe.gpio[pin];
        if (l !== undefined) claim(l, ['probe', 'gpio', pin]);
      }
    }
    const addresses = new Map<number, string>();
    const addr = (a: number, path: (string | number)[]) => {
      const prior = addresses.get(a);
      if (prior) ctx.addIssue({ code: 'custom', path, message: `I2C address 0x${a.toString(16)} is already used by ${prior}` });
      else addresses.set(a, path.join('.'));
    };
    addr(s.display.address, ['display', 'address']);
    if (s.power_monitor) addr(s.power_monitor.address, ['power_monitor', 'address']);
    s.light_sensors.forEach((sensor, i) => sensor.kind === 'color' && addr(sensor.address, ['light_sensors', i, 'address']));
    // The probe's target script must be able to program the part the station's bundles are for.
    if (s.probe && s.media && !s.probe.family) {
      let problem: string | undefined;
      try {
        problem = probeScriptProblem(s.probe.target, s.media.target);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['media', 'target'], message: (err as Error).message });
      }
      if (problem) ctx.addIssue({ code: 'custom', path: ['probe', 'target'], message: problem });
    }
    // The identity block: numbers that fit their digits, a unicast MAC block that neither wraps nor reaches broadcast.
    const block = identityBlockOf(s.identity);
    const serialProblem = rangeProblem(block.serial);
    if (serialProblem) ctx.addIssue({ code: 'custom', path: ['identity', 'count'], message: serialProblem });
    const macProblem = rangeProblem(block.mac);
    if (macProblem) ctx.addIssue({ code: 'custom', path: ['identity', 'mac_first'], message: macProblem });
    const names = new Set<string>();
    s.light_sensors.forEach((sensor, i) => {
      if (names.has(sensor.name)) ctx.addIssue({ code: 'custom', path: ['light_sensors', i, 'name'], message: `light sensor "${sensor.name}" is defined twice` });
      names.add(sensor.name);
    });
  });

export type StationConfig = z.output<typeof stationSchema> & {
  /** Absolute path of the file it came from. */
  file: string;
  /** data_dir and plan resolved against the file's folder. */
  dataDir: string;
  planFile: string | undefined;
};

export function parseStation(source: YamlSource): StationConfig {
  const config = source.validate(stationSchema);
  const base = dirname(resolve(source.file));
  return {
    ...config,
    ...(config.mqtt ? { mqtt: resolveMqttFiles(config.mqtt, base) } : {}),
    file: resolve(source.file),
    dataDir: resolve(base, config.data_dir),
    planFile: config.plan === undefined ? undefined : resolve(base, config.plan),
  };
}

/** The MQTT section's files, relative to the station file's folder. */
function resolveMqttFiles(m: MqttConfig, base: string): MqttConfig {
  const tls = m.tls && Object.fromEntries(Object.entries(m.tls).map(([k, v]) => [k, v === undefined ? v : resolve(base, v)]));
  return { ...m, ...(m.password_file !== undefined ? { password_file: resolve(base, m.password_file) } : {}), ...(tls ? { tls } : {}) };
}

export async function loadStation(file: string): Promise<StationConfig> {
  return parseStation(await YamlSource.load(file));
}

/**
 * Wiring that validates but will misbehave on a real Pi, as warnings with file and line:
 * - gpio.backend sysfs with inputs asking for a bias (sysfs cannot set pull resistors);
 * - an input that reads *active* while nothing drives it (a button to GND on BCM 9-27 with no
 *   pull-up reads pressed forever), or that floats (bias disabled);
 * - an output whose pin's reset pull is its active level: it is active while the Pi boots, until
 *   pijig claims the line (a relay driver on BCM 0-8 powers the DUT at boot).
 */
export function stationWarnings(config: StationConfig, source?: YamlSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const warn = (path: (string | number)[], message: string) =>
    issues.push(source ? source.issue(path, message) : { file: config.file, path: path.join('.'), message });
  const g = config.gpio;
  const sysfs = g.backend === 'sysfs';

  for (const [name, spec] of Object.entries(g.inputs)) {
    if (sysfs && spec.bias) warn(['gpio', 'backend'], `sysfs cannot set pull resistors: inputs.${name} asks for ${spec.bias}`);
    const at = spec.bias ? ['gpio', 'inputs', name, 'bias'] : ['gpio', 'inputs', name];
    const reset = resetPull(spec.line);
    const pull = sysfs || !spec.bias ? reset : spec.bias === 'pull-up' ? 'up' : spec.bias === 'pull-down' ? 'down' : undefined;
    const meaning = name === 'lid_closed' ? 'closed' : 'pressed';
    const why = sysfs || !spec.bias ? `BCM ${spec.line} pulls ${reset} at reset${sysfs && spec.bias ? ' and sysfs cannot change it' : ''}` : `bias ${spec.bias}`;
    if (pull === undefined) {
      warn(at, `bias disabled: BCM ${spec.line} floats while nothing drives it and may read ${meaning}; fit an external resistor or set pull-up/pull-down`);
    } else if ((pull === 'down') === spec.active_low) {
      const fix = spec.active_low ? 'pull-up' : 'pull-down';
      warn(at, `${spec.active_low ? 'active low' : 'active high'} with no ${fix}: ${why}, so ${name} reads ${meaning} while nothing drives it; set bias: ${fix}${sysfs ? ' with gpio.backend chardev' : ''} (or fit an external ${fix})`);
    }
  }

  for (const [name, spec] of Object.entries(g.outputs)) {
    if (!spec) continue;
    const reset = resetPull(spec.line);
    if (!reset || (reset === 'up') === spec.active_low) continue;
    const what = name === 'dut_power' ? 'the DUT is powered' : `${name} is active`;
    const other = reset === 'up' ? 'BCM 9-27, which pull down' : 'BCM 2-8, which pull up';
    warn(['gpio', 'outputs', name, 'line'], `BCM ${spec.line} pulls ${reset} at reset: ${what} while the Pi boots, until pijig claims the line; move it to ${other}${spec.active_low ? '' : ' (or use an active-low driver)'}`);
  }

  // MQTT: a file pijig cannot read keeps the output offline (the station runs; records wait in the journal).
  const m = config.mqtt;
  if (m) {
    const files: [string[], string | undefined][] = [
      [['mqtt', 'password_file'], m.password_file],
      [['mqtt', 'tls', 'ca'], m.tls?.ca],
      [['mqtt', 'tls', 'cert'], m.tls?.cert],
      [['mqtt', 'tls', 'key'], m.tls?.key],
    ];
    for (const [path, file] of files) {
      if (file === undefined) continue;
      try {
        accessSync(file, constants.R_OK);
      } catch (err) {
        warn(path, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the MQTT output stays offline, records wait in the journal`);
      }
    }
    if (m.password_file !== undefined && m.url.startsWith('mqtt://')) warn(['mqtt', 'url'], 'the password crosses the network in clear text over mqtt://: use mqtts://');
  }
  return issues;
}

/** The station config's identity block (`identity`) as ranges. */
export function identityBlockOf(c: { serial_prefix: string; serial_digits: number; first: number; count: number; mac_first: string }): IdentityBlock {
  return { serial: serialRange(c.serial_prefix, c.serial_digits, c.first, c.count), mac: macRange(c.mac_first.toLowerCase(), c.count) };
}
