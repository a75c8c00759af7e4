import { basename, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { ConfigError } from './config/errors.js';
import { identityBlockOf, type StationConfig, type ProbeConfig } from './config/station.js';
import { loadPlan, parsePlan } from './config/plan.js';
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
import { STEP_KINDS } from './steps/registry.js';
import type { StepKind } from './steps/step.js';
import type { StepRegistry } from './config/plan.js';
import { Journal } from './records/journal.js';
import { Books, stationHasRun } from './records/books.js';
import { DataDirLock } from './records/data-lock.js';
import { loadOrCreateStationKey, type StationKey } from './records/station-key.js';
import { makeCheckpoint } from './records/checkpoint.js';
import { BlockError } from './core/blocks.js';
import { errorMessage } from './core/errors.js';
import { removeStaleTempDirs } from './util/temp.js';
import { which } from './util/child.js';
import { Station, type Job } from './station/station.js';
import { DeviceWatch, type DeviceCheck } from './station/device-watch.js';
import { OperatorPanel } from './operator/panel.js';
import { attachDisplay } from './operator/display-output.js';
import { followMedia } from './operator/messages.js';
import type { Screen } from './operator/screens.js';
import { renderScreen } from './operator/render.js';
import { JournalFollower } from './outputs/follower.js';
import { LogSync } from './outputs/stick-logs.js';
import { MqttOutput, mqttStatus, type MqttStatus } from './outputs/mqtt.js';
import { BundleStore } from './media/store.js';
import { Importer } from './media/importer.js';
import { MediaError } from './media/errors.js';
import { stationBlockRanges, type Manifest } from './media/manifest.js';
import { parsePublicKeys } from './media/signing.js';
import { StickWatcher } from './media/stick.js';
import { UsbMedia } from './media/usb.js';
import type { ClockSync } from './devices/clock/clock.js';
import type { BarcodeScanner } from './devices/scanner/scanner.js';
import { startControl, type ControlService } from './control/service.js';
import type { CommandTable, ControlLimits } from './control/server.js';
import { LabelOutput, reprintLabel } from './outputs/label.js';
import { openPrinter, type PrinterConnection } from './devices/printer/open.js';
import { zplLabel } from './devices/printer/zpl.js';
import { labelContent, labelDots, renderLabel, type LabelTemplate } from './operator/label.js';
import type { JournalSource } from './records/journal.js';

/**
 * The hardware the station runs on, chosen by the entry point: the Pi's GPIO chip and I2C bus,
 * or the virtual jig's simulated ones. The probe and console settings are the station's own on
 * the Pi, and point at the simulated DUT on the virtual jig.
 */
export interface Hardware {
  gpio: GpioChip;
  i2c: I2cBus;
  probe: ProbeConfig | undefined;
  console: { path: string; baud: number } | undefined;
  /** Told of every openocd process (the virtual jig counts them). */
  onOpenocd?: (p: OpenocdProcessInfo) => void;
  /** The label printer: the station's `label.connection` on the Pi, the simulated printer on the virtual jig. */
  printer?: PrinterConnection | undefined;
  /** Whether the clock is synchronised (systemd's view on the Pi). */
  clock?: ClockSync;
  /** The fixture's barcode scanner, when it has one. */
  scanner?: BarcodeScanner;
}

/** The control socket (docs/control.md). */
export interface ControlOptions {
  socket: string;
  /** The read-only socket (default status.sock beside `socket`; null: none). */
  readSocket?: string | null;
  /** Group allowed to act (chown of the act socket). Default: the service's own group. */
  actGid?: number;
  limits?: Partial<ControlLimits>;
  /** The virtual jig's own commands. */
  commands?: CommandTable;
}

export interface AppOptions {
  log: (message: string) => void;
  registry?: StepRegistry<StepKind>;
  /** Stick poll period. */
  stickPollMs?: number;
  /** While a configured device is missing, look again this often (default 5 s). */
  deviceRecheckMs?: number;
  /** The data directory's lock, when the caller took it already (`pijig sim` does, before its workspace); else taken here. */
  lock?: DataDirLock;
  /** Names the process in the lock file ("pijig serve"). */
  command?: string;
  /** Listen on the control socket. */
  control?: ControlOptions;
  /** pijig's version, for status and the socket's hello. */
  version?: string;
  /** How often the clock's synchronisation is asked again (default 60 s). */
  clockPollMs?: number;
}

export interface App {
  station: Station;
  panel: OperatorPanel;
  journal: Journal;
  /** The journal and the ledger. */
  books: Books;
  stationKey: StationKey;
  store: BundleStore;
  follower: JournalFollower;
  usb: UsbMedia | undefined;
  /** The label printer's output (station config `label`), if any. */
  labels: LabelOutput | undefined;
  display: Display;
  control: ControlService | undefined;
  /** The MQTT output's connection and backlog (for `pijig status`); undefined without an mqtt section. */
  mqttStatus: (() => MqttStatus) | undefined;
  /** Re-read the active bundle (or the station's plan) and hand the job to the station. */
  reloadJob(): Promise<void>;
  stop(): Promise<void>;
}

/** The plan writes identities: it has an identity step. */
function writesIdentity(plan: unknown): boolean {
  const p = plan as { steps?: { kind?: string }[]; teardown?: { kind?: string }[] } | undefined;
  return [...(p?.steps ?? []), ...(p?.teardown ?? [])].some((s) => s.kind === 'identity');
}

/**
 * The label output for the station's `label` section: renders each unit's label (fonts and QR
 * as dots) into a ZPL job for the printer at `connection`. Used by the app and by `pijig label`.
 */
export function createLabelOutput(config: StationConfig, connection: PrinterConnection, deps: { journal: Pick<JournalSource, 'count'>; log: (m: string) => void }): LabelOutput {
  const label = config.label!;
  const template: LabelTemplate = { ...labelDots(label.size_mm, label.dpi), fields: label.fields, qr: label.qr, qrEcc: label.qr_ecc };
  // a label that cannot be drawn is a configuration error: say so at start, not at the first PASS
  renderLabel(template, { kind: 'unit', id: 'u-sample', serial: 'X'.repeat(12), mac: '00:00:00:00:00:00', product: 'product', version: '1.0.0', date: '2000-01-01', station: config.station_id });
  return new LabelOutput({
    printer: openPrinter(connection, label),
    journal: deps.journal,
    dataDir: config.dataDir,
    pollMs: label.poll_ms,
    log: deps.log,
    label: (record, why) => {
      const wanted = record.result === 'PASS' || (record.result === 'FAIL' && (why === 'reprint' || label.print === 'pass-and-reject'));
      if (!wanted) return undefined;
      const { image } = renderLabel(template, labelContent(record));
      return zplLabel(image, { comment: `pijig seq=${record.seq} id=${record.id} serial=${record.serial ?? '-'}${why === 'reprint' ? ' reprint=1' : ''}` });
    },
  });
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
      await display.show(renderScreen(screen, display));
    } finally {
      await bus.close();
    }
  } catch {
    // no bus or no panel: the error still goes to the log
  }
}

/**
 * Build the station from its configuration on the given hardware, and start it. Only wiring
 * happens here. The data directory is locked first (one process per data directory) and stays
 * locked until stop(); a start-up that fails releases it.
 */
export async function startApp(config: StationConfig, hw: Hardware, opts: AppOptions): Promise<App> {
  const lock = opts.lock ?? (await DataDirLock.acquire(config.dataDir, opts.command ?? 'pijig'));
  const opened: { books?: Books } = {};
  try {
    const app = await wire(config, hw, opts, opened);
    return {
      ...app,
      async stop() {
        await app.stop();
        if (!opts.lock) await lock.release();
      },
    };
  } catch (err) {
    await opened.books?.close().catch(() => {});
    if (!opts.lock) await lock.release();
    throw err;
  }
}

async function wire(config: StationConfig, hw: Hardware, opts: AppOptions, opened: { books?: Books }): Promise<App> {
  const { log } = opts;
  const registry = opts.registry ?? STEP_KINDS;
  const g = config.gpio;
  await mkdir(config.dataDir, { recursive: true });
  // A tool every unit needs and the station does not have is a start-up error, not a FAIL per unit.
  if (hw.probe && which(hw.probe.openocd) === undefined) {
    throw new Error(`${config.file}: probe.openocd: "${hw.probe.openocd}" not found: install openocd (apt-get install openocd) or name the binary`);
  }
  for (const dir of await removeStaleTempDirs()) log(`removed ${dir}, left by a pijig process that was killed`);

  // The books first: a station that cannot keep them starts no hardware.
  const ranBefore = await stationHasRun(config.dataDir);
  const { key: stationKey, created } = await loadOrCreateStationKey(config.dataDir);
  if (created) log(`station key made: ${stationKey.fingerprint} (it signs this station's logs, never firmware)`);
  const trusted = config.media ? parsePublicKeys(config.media.public_keys.map((k) => ({ name: k.name, publicKey: k.public_key })), 'media.public_keys') : [];
  if (trusted.some((k) => k.fingerprint === stationKey.fingerprint)) {
    throw new Error(`${config.file}: media.public_keys holds this station's own key (${stationKey.fingerprint}); the station key signs logs only, never firmware`);
  }
  const books = (opened.books = await Books.open({ dataDir: config.dataDir, stationId: config.station_id, ranBefore, log }));
  const journal = books.journal;

  const input = (name: string, s: { line: number; active_low: boolean; debounce_ms: number; bias?: GpioBias | undefined }) =>
    hw.gpio.input({ name, line: s.line, activeLow: s.active_low, debounceMs: s.debounce_ms, ...(s.bias ? { bias: s.bias } : {}) });
  const output = async (name: string, s: { line: number; active_low: boolean } | undefined): Promise<DigitalOutput | undefined> =>
    s ? hw.gpio.output({ name, line: s.line, activeLow: s.active_low }) : undefined;
  const inputs = { start: await input('start', g.inputs.start), abort: await input('abort', g.inputs.abort), lidClosed: await input('lid_closed', g.inputs.lid_closed) };
  const dutRelay = (await output('dut_power', g.outputs.dut_power))!;
  const light = {
    green: await output('light_green', g.outputs.light_green),
    red: await output('light_red', g.outputs.light_red),
    amber: await output('light_amber', g.outputs.light_amber),
    buzzer: await output('buzzer', g.outputs.buzzer),
  };

  const display = new Ssd1306Display(hw.i2c, { address: config.display.address, controller: config.display.controller });
  const lightSensors = new Map<string, LightSensor>();
  const checks: DeviceCheck[] = [];
  for (const s of config.light_sensors) {
    if (s.kind === 'photo') {
      lightSensors.set(s.name, new PhotoSensor(s.name, await hw.gpio.input({ name: `light_sensors.${s.name}`, line: s.line, activeLow: s.active_low, debounceMs: 0 })));
    } else {
      const sensor = new Tcs34725({ bus: hw.i2c, name: s.name, address: s.address, busNumber: config.i2c.bus });
      lightSensors.set(s.name, sensor);
      checks.push({ name: sensor.description, check: () => sensor.init() });
    }
  }
  const pm = config.power_monitor;
  const powerMonitor = pm ? new Ina219({ bus: hw.i2c, address: pm.address, busNumber: config.i2c.bus, shuntOhms: pm.shunt_ohms, maxCurrentA: pm.max_current_a }) : undefined;
  if (powerMonitor) checks.unshift({ name: powerMonitor.description, check: () => powerMonitor.init() });
  const devices = {
    lightSensors,
    ...(powerMonitor ? { powerMonitor } : {}),
    ...(hw.console ? { console: new SerialConsole({ path: hw.console.path, baudRate: hw.console.baud }) } : {}),
    ...(hw.probe ? { probe: openocdProbe(hw.probe, hw.onOpenocd ? { onProcess: hw.onOpenocd } : {}) } : {}),
  };

  // Engineering runs (`pijig run-step`) are recorded apart from the units.
  const engineeringJournal = await Journal.open(join(config.dataDir, 'engineering.jsonl'));
  const clock = hw.clock;
  const clockState: { synchronized: boolean | undefined; source: string; checkedAt?: string } = { synchronized: undefined, source: clock?.source ?? 'no clock source' };
  const pollClock = async () => {
    if (!clock) return;
    const synced = await clock.synchronized();
    if (synced !== clockState.synchronized && synced !== undefined) log(`clock ${synced ? 'synchronised' : 'NOT synchronised'} (${clock.source})`);
    Object.assign(clockState, { synchronized: synced, checkedAt: new Date().toISOString() });
  };
  await pollClock();
  const clockTimer = setInterval(() => void pollClock(), opts.clockPollMs ?? 60_000);
  clockTimer.unref();
  const store = new BundleStore(config.dataDir);
  const follower = new JournalFollower({ journal, dataDir: config.dataDir, log });

  let importer: Importer | undefined;
  const station = new Station({
    stationId: config.station_id,
    inputs,
    dutRelay,
    devices,
    books,
    startGate: () => (importer?.busy ? 'IMPORTING IMAGE' : undefined),
    clockSynced: () => clockState.synchronized,
    engineeringJournal,
  });
  station.on('log', log);
  station.on('listener-error', (event, err) => log(`output for ${event} failed: ${(err as Error).message}`));
  const panel = new OperatorPanel({ station, light, log });
  panel.on('listener-error', (event, err) => log(`output for ${event} failed: ${(err as Error).message}`));
  const detachDisplay = attachDisplay(panel, display, log);
  const detachPanel = panel.attach();
  try {
    await display.init();
  } catch (err) {
    log(`display: ${(err as Error).message} (the station runs without it)`);
  }
  await station.start();

  // What the books found: no unit runs on a damaged journal or without a usable ledger.
  const journalDamaged = async (): Promise<void> => {
    const damage = journal.damage;
    if (!damage) return;
    const copy = damage.copy ?? (await journal.keepCopy().catch(() => undefined));
    log(`JOURNAL DAMAGED: ${damage.message}${copy ? ` (copy kept: ${copy})` : ''}`);
    station.reportFault({ source: 'journal-damaged', title: 'JOURNAL DAMAGED', lines: [`record #${damage.seq}`, 'copy kept; engineer:', 'pijig journal repair'] });
  };
  await journalDamaged();
  const ledgerProblem = await books.problem();
  if (ledgerProblem) {
    log(`ledger: ${ledgerProblem}`);
    const title = /pijig ledger reset/.test(ledgerProblem) ? 'LEDGER RESET NEEDED' : /damaged/.test(ledgerProblem) ? 'LEDGER DAMAGED' : 'ORDER CHECK FAILED';
    station.reportFault({ source: 'ledger', title, lines: [ledgerProblem] });
  }
  for (const r of books.recovery.interrupted) log(`unit #${r.seq} recorded as INTERRUPTED (${r.serial ?? 'no serial'}, chip ${r.chipUid ?? '?'})`);
  // The whole chain, in the background: a record edited anywhere stops the station once found.
  const verified = journal.verify().then(journalDamaged, (err: unknown) => log(`journal check failed: ${errorMessage(err)}`));

  const loadJob = async (): Promise<Job> => {
    const bundle = await store.active();
    const file = bundle ? `${bundle.dir}/${bundle.plan.file}` : config.planFile;
    if (!file) throw new Error('no image bundle is active and the station config names no plan: insert a stick with a signed bundle');
    const plan = bundle ? parsePlan(bundle.plan.text, file, registry) : await loadPlan(file, registry);
    // This station's block of the bundle; the station config's only when no bundle is active.
    const own = bundle?.identity?.stations[config.station_id];
    const block = bundle ? (own ? stationBlockRanges(own) : undefined) : identityBlockOf(config.identity);
    const source = bundle ? `bundle ${bundle.manifest.version} (${bundle.bundleId.slice(0, 12)})` : `station config ${config.file}`;
    if (writesIdentity(plan)) {
      if (!block) throw new Error(`${file}: NO_BLOCK_FOR_STATION: the plan writes identities and bundle ${bundle!.manifest.version} has no identity block for station ${config.station_id}`);
      // A block overlapping numbers this station used is refused (it is recorded with its first number).
      if (books.ledger && !books.ledger.broken) books.ledger.blockEntries(block, source);
    }
    return {
      plan,
      image: bundle?.image,
      ...(block ? { block, blockSource: source } : {}),
      ...(bundle?.orderQuantity ? { orderQuantity: bundle.orderQuantity } : {}),
      ...(bundle?.orderId ? { order: bundle.orderId } : {}),
    };
  };
  const reloadJob = async (): Promise<void> => {
    try {
      station.setJob(await loadJob());
    } catch (err) {
      log(`no test plan: ${(err as Error).message}`);
      station.jobFailed(err as Error);
    }
  };
  await reloadJob();

  const watch = new DeviceWatch({ station, checks, log, ...(opts.deviceRecheckMs !== undefined ? { recheckMs: opts.deviceRecheckMs } : {}) });
  await watch.start();

  // The fixture's barcode scanner: a scanned label goes into the next unit's record.
  const scanner = hw.scanner;
  let scannerProblem: string | undefined;
  const offScanner: (() => void)[] = [];
  if (scanner) {
    try {
      await scanner.open();
      offScanner.push(
        scanner.onScan((code) => {
          log(`scanned label ${code}`);
          station.scan(code);
        }),
        scanner.onReject((why) => log(`scanner: ${why}`)),
      );
    } catch (err) {
      scannerProblem = (err as Error).message;
      log(`scanner: ${scannerProblem} (the station runs without it)`);
    }
  }
  station.on('engineering', (phase, step, record) => {
    if (phase === 'started') panel.showMessage({ kind: 'message', title: 'ENGINEERING RUN', lines: [step, 'over SSH'], icon: 'wait' });
    else {
      panel.clearMessage();
      log(`engineering run of ${step}: ${record ? `${record.result}${record.reason ? ` ${record.reason}` : ''} (engineering.jsonl #${record.seq})` : 'not recorded'}`);
    }
  });

  let control: ControlService | undefined;
  if (opts.control) {
    const i2cChecks = [{ name: `${config.display.controller} i2c-${config.i2c.bus} 0x${config.display.address.toString(16)}`, check: async () => void (await hw.i2c.read(config.display.address, 1)) }, ...checks];
    const { commands: extraCommands, ...socketOptions } = opts.control;
    // The engineer's socket is a convenience, not the line: if it cannot listen, the station runs without it.
    control = await startControl({
      ...socketOptions,
      ...(extraCommands ? { extraCommands } : {}),
      stationId: config.station_id,
      version: opts.version ?? '0.0.0',
      station,
      panel,
      glass: display,
      dataDir: config.dataDir,
      outputs: () => follower.status(),
      // `mqtt` and `labels` are set up below; read only when asked
      mqtt: () => (mqtt ? mqttStatus(mqtt, follower) : undefined),
      reprintLabel: (serial, user) => {
        if (!labels) throw Object.assign(new Error(`station ${config.station_id} has no label printer (no label section in its config)`), { code: 'NO_PRINTER' });
        return reprintLabel({ journal, labels }, { serial, user });
      },
      devices: () => checks.map((c) => ({ name: c.name, ok: !watch.missing.includes(c.name) })),
      clock: () => ({ ...clockState }),
      scanner: () => (scanner ? { description: scanner.description, ok: !scannerProblem, ...(scannerProblem ? { detail: scannerProblem } : {}) } : undefined),
      selftest: () => ({
        dataDir: config.dataDir,
        journalPath: journal.path,
        probe: hw.probe,
        inputs,
        relay: dutRelay,
        i2c: i2cChecks,
        clock: clock ?? { source: 'no clock source', synchronized: async () => undefined },
        busy: () => station.running,
      }),
      log,
    }).catch((err: Error) => {
      log(`control socket: ${err.message} (the station runs without it; pijig status and the other engineer's commands cannot reach it)`);
      return undefined;
    });
    if (control) log(`control socket ${control.server.paths.act} (act)${control.server.paths.read ? `, ${control.server.paths.read} (read)` : ''}`);
  }

  // Labels (issue 14): the printer is one more output of the follower; its problems go on the OLED.
  let labels: LabelOutput | undefined;
  let stopLabels = async () => {};
  if (config.label && hw.printer) {
    const out = (labels = createLabelOutput(config, hw.printer, { journal, log }));
    out.on('printer', (n) => {
      panel.setPrinter(n.ok ? undefined : n.text);
      log(n.ok ? `label printer ${out.printer}: printing` : `label printer ${out.printer}: ${n.text}`);
    });
    const unfollow = follower.add(out);
    // while no label is due, look at the printer now and then, so the operator hears of it before the next PASS
    const idleCheck = setInterval(() => {
      if (!follower.status().find((s) => s.name === out.name)?.pending) void out.check();
    }, 30_000);
    idleCheck.unref();
    void out.check();
    stopLabels = async () => {
      clearInterval(idleCheck);
      await out.close();
      await unfollow();
    };
  }

  let usb: UsbMedia | undefined;
  let detachMedia = () => {};
  if (config.media) {
    importer = new Importer({
      store,
      settings: config.media,
      waitUntilIdle: () => station.waitUntilIdle(),
      checkPlan: (text, file) => parsePlan(text, file, registry),
      checkIdentity: (manifest, plan, file) => checkBundleIdentity(manifest, plan, file, config.station_id, books),
    });
    const watcher = new StickWatcher({ mountDir: config.media.mount_dir, intervalMs: opts.stickPollMs ?? 1000 });
    const checkpoint = (at: { seq: number; head: string; counts: Record<'PASS' | 'FAIL' | 'ERROR' | 'ABORTED', number> }) =>
      `${JSON.stringify(makeCheckpoint(stationKey, { station: config.station_id, ...at, at: new Date().toISOString() }), null, 2)}\n`;
    usb = new UsbMedia({ watcher, importer, logSync: new LogSync({ journal, follower, stationId: config.station_id, attempts: 3, protect: [config.dataDir], checkpoint }) });
    detachMedia = followMedia(usb, (screen) => panel.showMessage(screen), () => panel.clearMessage());
    // The job changes as soon as a bundle is active; "NEW IMAGE ... READY" stays up until the stick is pulled.
    usb.on('imported', async (r) => {
      log(`bundle ${r.product} ${r.version} imported (${r.bundleId.slice(0, 12)})`);
      await reloadJob();
    });
    usb.on('refused', (err) => log(`bundle refused: ${err.code}: ${err.message}`));
    usb.on('synced', (r) => log(`logs synced: ${r.appended} new records (up to #${r.lastSeq})`));
    usb.on('sync-failed', (err) => log(`log sync failed: ${err.code}: ${err.message}`));
    usb.on('listener-error', (event, err) => log(`output for ${event} failed: ${(err as Error).message}`));
    usb.start();
  }

  // MQTT (station config `mqtt`): records through the follower, status and step events from the station.
  const m = config.mqtt;
  const mqtt =
    m &&
    new MqttOutput({
      url: m.url,
      clientId: m.client_id ?? `pijig-${config.station_id}`,
      station: config.station_id,
      topicPrefix: m.topic_prefix,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password_file !== undefined ? { passwordFile: m.password_file } : {}),
      ...(m.tls ? { tls: m.tls } : {}),
      keepaliveS: m.keepalive_s,
      reconnectMs: m.reconnect_ms,
      connectTimeoutMs: m.connect_timeout_ms,
      ackTimeoutMs: m.ack_timeout_ms,
      statusIntervalMs: m.status_interval_ms,
      log,
    });
  const detachMqtt = mqtt?.attach(station);
  if (mqtt) {
    follower.add(mqtt);
    await mqtt.start();
  }

  return {
    station,
    panel,
    journal,
    books,
    stationKey,
    store,
    follower,
    usb,
    labels,
    display,
    control,
    mqttStatus: mqtt && (() => mqttStatus(mqtt, follower)),
    reloadJob,
    async stop() {
      await control?.close();
      clearInterval(clockTimer);
      for (const off of offScanner) off();
      await scanner?.close().catch(() => {});
      watch.stop();
      await usb?.stop();
      detachMedia();
      await station.stop();
      detachPanel();
      detachDisplay();
      detachMqtt?.();
      await stopLabels();
      await follower.stop();
      await mqtt?.stop();
      await devices.console?.close().catch(() => {});
      await verified;
      await books.close();
      await engineeringJournal.close();
    },
  };
}

/**
 * At import: a plan with an identity step needs this station's block in the bundle
 * (NO_BLOCK_FOR_STATION), and the block must not overlap numbers this station has used
 * (BLOCK_OVERLAP; its own block extended is fine).
 */
function checkBundleIdentity(manifest: Manifest, plan: unknown, file: string, stationId: string, books: Books): void {
  if (!writesIdentity(plan)) return;
  const own = manifest.identity?.stations[stationId];
  if (!own) {
    const others = Object.keys(manifest.identity?.stations ?? {});
    const why = manifest.identity && 'shared' in manifest.identity ? ' (it carries one block shared by every station: make the bundle again with identity.stations)' : others.length ? ` (only for ${others.join(', ')})` : '';
    throw new MediaError('NO_BLOCK_FOR_STATION', `${file}: identity.stations: the plan writes identities and the bundle has no block for station ${stationId}${why}`, {
      file,
      field: `identity.stations.${stationId}`,
    });
  }
  const ranges = stationBlockRanges(own);
  for (const [part, range] of [['serial', ranges.serial], ['mac', ranges.mac]] as const) {
    try {
      books.ledger?.checkBlock(range, `${file}: identity.stations.${stationId}.${part}`);
    } catch (e) {
      if (!(e instanceof BlockError)) throw e;
      throw new MediaError(e.code, e.message, { cause: e, file, field: `identity.stations.${stationId}.${part}` });
    }
  }
}
