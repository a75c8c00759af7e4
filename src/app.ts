import { basename, join } from 'node:path';
import type { Screen } from './devices/display/screens.js';
import { renderScreen } from './devices/display/render.js';
import type { ConfigError } from './config/errors.js';
import { mkdir } from 'node:fs/promises';
import type { GpioChip, DigitalOutput, GpioBias } from './devices/gpio/gpio.js';
import type { I2cBus } from './devices/i2c/i2c.js';
import { Ssd1306Display } from './devices/display/ssd1306.js';
import type { Display } from './devices/display/display.js';
import { Ina219 } from './devices/power/ina219.js';
import { PhotoSensor } from './devices/light/photo.js';
import { Tcs34725 } from './devices/light/tcs34725.js';
import type { LightSensor } from './devices/light/light-sensor.js';
import { SerialConsole } from './devices/console/serial-console.js';
import { openocdProbe, type OpenocdProcessInfo } from './devices/probe/openocd.js';
import type { ProbeSettings } from './devices/probe/probe-config.js';
import type { StationConfig } from './config/station.js';
import { loadPlan, parsePlan, type StepRegistry } from './config/plan.js';
import { STEP_KINDS } from './steps/registry.js';
import type { Devices, IdentityProvider } from './steps/step.js';
import { Journal } from './records/journal.js';
import { StationState } from './records/state.js';
import { CounterIdentityProvider, type IdentityBlock } from './records/identity-counter.js';
import { Station, type Job } from './station/station.js';
import { attachDisplay } from './station/display-output.js';
import { BundleStore, type ActiveBundle } from './media/store.js';
import { Importer } from './media/importer.js';
import { StickWatcher } from './media/stick.js';
import { LogSync } from './media/log-sync.js';
import { UsbMedia } from './media/usb.js';
import type { MediaSettings } from './media/settings.js';

/**
 * The hardware the station runs on, chosen by the entry point: the Pi's GPIO chip and I2C bus,
 * or the virtual jig's simulated ones. The probe and console settings are the station's own on
 * the Pi, and point at the simulated DUT on the virtual jig.
 */
export interface Hardware {
  gpio: GpioChip;
  i2c: I2cBus;
  probe: ProbeSettings | undefined;
  console: { path: string; baud: number } | undefined;
  /** Told of every openocd process (the virtual jig counts them). */
  onOpenocd?: (p: OpenocdProcessInfo) => void;
}

export interface AppOptions {
  log: (message: string) => void;
  registry?: StepRegistry;
  /** Stick poll period. */
  stickPollMs?: number;
  /** While a configured device is missing, look again this often (default 5 s). */
  deviceRecheckMs?: number;
}

export interface App {
  station: Station;
  journal: Journal;
  state: StationState;
  store: BundleStore;
  usb: UsbMedia | undefined;
  display: Display;
  stop(): Promise<void>;
}

/** Station config's probe section (snake_case YAML) as the probe driver's settings. */
export function probeSettingsFrom(probe: NonNullable<StationConfig['probe']>): ProbeSettings {
  const rb = probe.remote_bitbang;
  return {
    kind: probe.kind,
    target: probe.target,
    ...(probe.speed_khz !== undefined ? { speedKhz: probe.speed_khz } : {}),
    ...(probe.transport ? { transport: probe.transport } : {}),
    ...(probe.serial ? { serial: probe.serial } : {}),
    ...(probe.gpio ? { gpio: { chip: probe.gpio.chip, swclk: probe.gpio.swclk, swdio: probe.gpio.swdio, ...(probe.gpio.srst !== undefined ? { srst: probe.gpio.srst } : {}) } } : {}),
    ...(rb && 'path' in rb ? { path: rb.path } : rb ? { host: rb.host, port: rb.port } : {}),
    extraCommands: probe.extra_commands,
  };
}

export function mediaSettingsFrom(config: StationConfig): MediaSettings | undefined {
  const m = config.media;
  if (!m) return undefined;
  return {
    ...(m.product ? { product: m.product } : {}),
    target: m.target,
    allowDowngrade: m.allow_downgrade,
    maxFileBytes: Math.round(m.max_file_mb * 1024 * 1024),
    publicKeys: m.public_keys.map((k) => ({ name: k.name, publicKey: k.public_key })),
  };
}

function identityBlockOf(config: StationConfig, bundle: ActiveBundle | undefined): IdentityBlock {
  const own = config.identity;
  const block: IdentityBlock = { serialPrefix: own.serial_prefix, serialDigits: own.serial_digits, first: own.first, count: own.count, macFirst: own.mac_first };
  const fromBundle = bundle?.identity;
  if (fromBundle?.serial) Object.assign(block, { serialPrefix: fromBundle.serial.prefix, first: fromBundle.serial.start, count: fromBundle.serial.count, serialDigits: fromBundle.serial.digits ?? block.serialDigits });
  if (fromBundle?.mac) Object.assign(block, { macFirst: fromBundle.mac.start, count: Math.min(block.count, fromBundle.mac.count) });
  return block;
}

/** The fault screen for a configuration error: the first problem, as file:line and field. */
export function configFaultScreen(err: ConfigError): Extract<Screen, { kind: 'fault' }> {
  const first = err.issues[0];
  const where = first ? `${basename(first.file)}${first.line ? `:${first.line}` : ''}` : '';
  return { kind: 'fault', title: 'CONFIG ERROR', lines: first ? [where, first.path, first.message].filter(Boolean) : [] };
}

/** Best effort: draw a screen on an SSD1306 at 0x3c when the configuration cannot say where the OLED is. */
export async function showOnDefaultDisplay(openBus: () => Promise<I2cBus>, screen: Screen): Promise<void> {
  try {
    const bus = await openBus();
    try {
      const display = new Ssd1306Display(bus, { address: 0x3c, controller: 'ssd1306' });
      await display.init();
      await display.show(renderScreen(screen));
    } finally {
      await bus.close();
    }
  } catch {
    // no bus or no panel: the error still goes to the log
  }
}

/** Build the station from its configuration on the given hardware, and start it. */
export async function startApp(config: StationConfig, hw: Hardware, opts: AppOptions): Promise<App> {
  const { log } = opts;
  const registry = opts.registry ?? STEP_KINDS;
  const g = config.gpio;
  await mkdir(config.dataDir, { recursive: true });

  const input = (name: string, s: { line: number; active_low: boolean; debounce_ms: number; bias?: GpioBias | undefined }) =>
    hw.gpio.input({ name, line: s.line, activeLow: s.active_low, debounceMs: s.debounce_ms, ...(s.bias ? { bias: s.bias } : {}) });
  const output = async (name: string, s: { line: number; active_low: boolean } | undefined): Promise<DigitalOutput | undefined> =>
    s ? hw.gpio.output({ name, line: s.line, activeLow: s.active_low }) : undefined;
  const inputs = { start: await input('start', g.inputs.start), abort: await input('abort', g.inputs.abort), lidClosed: await input('lid_closed', g.inputs.lid_closed) };
  const dutPower = (await output('dut_power', g.outputs.dut_power))!;
  const light = {
    green: await output('light_green', g.outputs.light_green),
    red: await output('light_red', g.outputs.light_red),
    amber: await output('light_amber', g.outputs.light_amber),
    buzzer: await output('buzzer', g.outputs.buzzer),
  };

  const display = new Ssd1306Display(hw.i2c, { address: config.display.address, controller: config.display.controller });
  const lightSensors = new Map<string, LightSensor>();
  for (const s of config.light_sensors) {
    if (s.kind === 'photo') lightSensors.set(s.name, new PhotoSensor(s.name, await hw.gpio.input({ name: `light_sensors.${s.name}`, line: s.line, activeLow: s.active_low, debounceMs: 0 })));
    else lightSensors.set(s.name, new Tcs34725({ bus: hw.i2c, name: s.name, address: s.address, busNumber: config.i2c.bus }));
  }
  const pm = config.power_monitor;
  const devices: Devices = {
    dutPower,
    lightSensors,
    ...(pm ? { powerMonitor: new Ina219({ bus: hw.i2c, address: pm.address, busNumber: config.i2c.bus, shuntOhms: pm.shunt_ohms, maxCurrentA: pm.max_current_a }) } : {}),
    ...(hw.console ? { console: new SerialConsole({ path: hw.console.path, baudRate: hw.console.baud }) } : {}),
    ...(hw.probe ? { probe: openocdProbe(hw.probe, { executable: config.probe?.openocd ?? 'openocd', ...(hw.onOpenocd ? { onProcess: hw.onOpenocd } : {}) }) } : {}),
  };

  const journal = await Journal.open(join(config.dataDir, 'units.jsonl'));
  if (journal.recovery.tornBytes) log(`journal: cut a torn last line of ${journal.recovery.tornBytes} bytes (kept in ${journal.recovery.tornSavedTo})`);
  const state = await StationState.open(config.dataDir);
  const store = new BundleStore(config.dataDir);

  let bundle: ActiveBundle | undefined;
  let identity: IdentityProvider = new CounterIdentityProvider(state, identityBlockOf(config, undefined));
  const job = async (): Promise<Job> => {
    bundle = await store.active();
    identity = new CounterIdentityProvider(state, identityBlockOf(config, bundle));
    if (bundle) {
      return { plan: parsePlan(bundle.plan.text, `${bundle.dir}/${bundle.plan.file}`, registry), image: bundle.image, ...(bundle.orderQuantity ? { orderQuantity: bundle.orderQuantity } : {}) };
    }
    if (!config.planFile) throw new Error('no image bundle is active and the station config names no plan: insert a stick with a signed bundle');
    return { plan: await loadPlan(config.planFile, registry), image: undefined };
  };

  const media = mediaSettingsFrom(config);
  let importer: Importer | undefined;
  const station = new Station({
    stationId: config.station_id,
    inputs,
    devices,
    light,
    journal,
    state,
    identity: { allocate: () => identity.allocate() },
    job,
    canStart: () => (importer?.busy ? 'IMPORTING IMAGE' : undefined),
  });
  station.on('log', log);
  station.on('listener-error', (event, err) => log(`output for ${event} failed: ${(err as Error).message}`));
  const detachDisplay = attachDisplay(station, display, log);
  try {
    await display.init();
  } catch (err) {
    log(`display: ${(err as Error).message} (the station runs without it)`);
  }
  await station.start();

  // Every I2C device the wiring declares must answer; a missing one is a station fault (DEVICE
  // MISSING, naming it) until it answers again.
  const checks: [string, () => Promise<void>][] = [];
  if (devices.powerMonitor) {
    const pm = devices.powerMonitor;
    checks.push([pm.description, () => pm.init()]);
  }
  for (const sensor of lightSensors.values()) if (sensor instanceof Tcs34725) checks.push([sensor.description, () => sensor.init()]);
  const missingDevices = async (): Promise<string[]> => {
    const missing: string[] = [];
    for (const [name, check] of checks) await check().catch(() => missing.push(name));
    return missing;
  };
  let recheck: NodeJS.Timeout | undefined;
  /** The devices DEVICE MISSING names, while it is on. */
  let reported: string | undefined;
  const watchDevices = async (): Promise<void> => {
    recheck = undefined;
    if (!station.running) {
      const missing = await missingDevices();
      if (missing.length && missing.join() !== reported) {
        log(`device missing: ${missing.join(', ')}`);
        station.reportFault('DEVICE MISSING', missing);
        reported = missing.join();
      } else if (!missing.length && reported !== undefined) {
        log('devices answer again');
        reported = undefined;
        await station.clearFault();
      }
    }
    if (reported !== undefined) recheck = setTimeout(() => void watchDevices(), opts.deviceRecheckMs ?? 5000);
  };
  await watchDevices();

  let usb: UsbMedia | undefined;
  if (config.media && media) {
    importer = new Importer({ store, settings: media, waitUntilIdle: () => station.waitUntilIdle(), checkPlan: (text, file) => parsePlan(text, file, registry) });
    const watcher = new StickWatcher({ mountDir: config.media.mount_dir, intervalMs: opts.stickPollMs ?? 1000 });
    usb = new UsbMedia({ watcher, importer, logSync: new LogSync({ journal, stationId: config.station_id }) });
    usb.on('message', (screen) => station.showMessage(screen));
    usb.on('imported', (r) => {
      log(`bundle ${r.product} ${r.version} imported (${r.bundleId.slice(0, 12)})`);
      void station.reload(false); // keep "NEW IMAGE ... READY" on screen until the stick is pulled
    });
    usb.on('removed', () => void station.reload());
    usb.on('refused', (err) => log(`bundle refused: ${err.code}: ${err.message}`));
    usb.on('synced', (r) => log(`logs synced: ${r.appended} new records (up to #${r.lastSeq})`));
    usb.on('sync-failed', (err) => log(`log sync failed: ${err.code}: ${err.message}`));
    usb.start();
  }

  return {
    station,
    journal,
    state,
    store,
    usb,
    display,
    async stop() {
      if (recheck) clearTimeout(recheck);
      await usb?.stop();
      await station.stop();
      detachDisplay();
      await devices.console?.close().catch(() => {});
      await journal.close();
    },
  };
}
