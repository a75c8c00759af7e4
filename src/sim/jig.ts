import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeIdentity, IDENTITY_RECORD_SIZE } from '../steps/identity-record.js';
import { formatChipUid } from '../steps/chip.js';
import { DEFAULT_IDENTITY_ADDRESS as IDENTITY_ADDRESS } from '../core/chip-families.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StationConfig } from '../config/station.js';
import { SimGpioChip } from '../devices/gpio/gpio.sim.js';
import { SimI2cBus } from '../devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../devices/display/panel.sim.js';
import { SimIna219 } from '../devices/power/ina219.sim.js';
import { SimTcs34725, ledIrradiance } from '../devices/light/tcs34725.sim.js';
import { SimPhotoTransistor } from '../devices/light/photo.sim.js';
import { probeSchema } from '../config/station.js';
import { SimStm32, FLASH_BASE } from './dut/stm32f1.js';
import { RemoteBitbangServer } from './dut/remote-bitbang.js';
import { DutFirmware, LED_COLOURS, type FirmwareFaults, type LedSpec } from './firmware/dut-firmware.js';
import { createPtyPair, type PtyPair } from './firmware/pty.js';
import { connectUart, type UartLink } from '../devices/console/uart.sim.js';
import type { DutFaults } from './dut/stm32f1.js';
import type { Hardware } from '../app.js';
import { SimScanner } from '../devices/scanner/scanner.sim.js';
import { SimClock } from '../devices/clock/clock.sim.js';
import { SimZplPrinter } from '../devices/printer/zpl.sim.js';

/** Faults `pijig sim --fault` can inject, each producing one kind of FAIL. */
export const SIM_FAULTS = {
  'stuck-bit': 'a flash bit that cannot be programmed (VERIFY_FAILED)',
  'silent-target': 'the target stops answering mid-session (PROBE_TIMEOUT)',
  'drop-connection': 'the debug connection drops mid-programming (CONNECTION_LOST)',
  'dead-chain': 'a dead JTAG scan chain (TARGET_NOT_RESPONDING)',
  'no-target': 'nothing listening on the probe port (PROBE_NOT_FOUND)',
  'locked-chip': 'a chip already read-out protected (FLASH_PROTECTED)',
  'lock-ineffective': 'read-out protection never takes effect (LOCK_NOT_PROVEN)',
  overcurrent: 'the DUT draws 120 mA too much (LIMIT_HIGH)',
  undercurrent: 'the DUT draws 20 mA too little (LIMIT_LOW)',
  'dark-led': 'the status LED stays dark (LED_STATE)',
  'wrong-colour': 'the power LED is amber, not green (LIMIT_MISMATCH)',
  'console-mute': 'the console never answers (CONSOLE_TIMEOUT)',
  'wrong-version': 'the firmware reports another version (LIMIT_MISMATCH)',
  'wrong-serial': 'the serial read back differs from the one written (LIMIT_MISMATCH)',
  'no-power-monitor': 'the INA219 does not acknowledge (I2C_ERROR)',
} as const;
export type SimFault = keyof typeof SIM_FAULTS;

export interface VirtualJigOptions {
  /** The station's wiring: the simulated devices sit on the same lines and addresses. */
  station: StationConfig;
  /** Folder for the simulated DUT's flash file and the pty links. */
  workDir: string;
  /** Re-test: the unit stays in the fixture when the lid opens (default: a fresh blank chip each time). */
  keepUnit?: boolean;
  faults?: readonly SimFault[];
  /** Seed of the current-measurement noise. */
  seed?: number;
  /**
   * Append what happens to each chip here, one JSON line per event, written synchronously as it
   * happens: `erase` (address, bytes), `identity` (the record the chip holds after a reset),
   * `out` (the chip leaves the fixture). The kill test's ground truth of what was flashed and
   * numbered; every event names the chip's UID.
   */
  dutLog?: string;
  /** Where the simulated label printer saves each label as a PNG (when the station has a `label` section). */
  labelDir?: string;
}

/**
 * The virtual jig: the simulated twins of every device, wired to each other the way the fixture
 * wires the real ones. The DUT relay powers the simulated STM32 (which the real openocd programs
 * over remote_bitbang); its firmware boots from that flash, talks on a real pty, draws current
 * that the simulated INA219 reports, and lights LEDs that the simulated light sensors see.
 */
export class VirtualJig {
  readonly gpio: SimGpioChip;
  readonly i2c: SimI2cBus;
  readonly panel: SimOledPanel;
  readonly ina219: SimIna219;
  readonly firmware: DutFirmware;
  readonly server: RemoteBitbangServer;
  /** The fixture's barcode scanner: `scanner.scan(label)`. */
  readonly scanner = new SimScanner();
  /** The station's clock: synchronised unless `clock.synced` is set otherwise. */
  readonly clock = new SimClock();
  /** The label printer on a TCP port, when the station has one: it decodes each ZPL label into a PNG. */
  printer: SimZplPrinter | undefined;
  /** openocd processes started so far. */
  openocdProcesses = 0;
  private chipValue: SimStm32;
  private endpoint: { port?: number; path?: string } = {};
  private pty: PtyPair | undefined;
  private uart: UartLink | undefined;
  private readonly photos: SimPhotoTransistor[] = [];
  private readonly cleanups: (() => void)[] = [];
  private chipCleanup: (() => void) | undefined;
  private lidWasOpen = true;

  private constructor(private readonly options: VirtualJigOptions) {
    const { station } = options;
    this.gpio = new SimGpioChip({ canSetBias: station.gpio.backend !== 'sysfs', seed: options.seed ?? 1 });
    this.i2c = new SimI2cBus(station.i2c.bus);
    this.panel = new SimOledPanel({ controller: station.display.controller });
    this.i2c.attach(station.display.address, this.panel);
    this.chipValue = new SimStm32({ powered: false });
    this.server = new RemoteBitbangServer(this.chipValue);
    const leds: Record<string, LedSpec> = {};
    for (const s of station.light_sensors) {
      // photo sensors watch a blinking green status LED; colour sensors a steady green one
      leds[s.name] = s.kind === 'photo' ? { colour: LED_COLOURS.green, atBoot: { mode: 'blink', hz: 2 } } : { colour: LED_COLOURS.green, atBoot: { mode: 'on' } };
    }
    this.firmware = new DutFirmware({
      readFlash: (address, length) => this.chip.flash.subarray(address - FLASH_BASE, address - FLASH_BASE + length),
      ...(Object.keys(leds).length ? { leds } : {}),
    });
    this.ina219 = new SimIna219({ currentMa: () => (this.chip.powered ? this.firmware.supplyCurrentMa() : 0), noiseMa: 0.2, seed: options.seed ?? 1, busVoltageV: () => (this.chip.powered ? 3.3 : 0) });
    if (station.power_monitor) this.i2c.attach(station.power_monitor.address, this.ina219);
    for (const s of station.light_sensors) {
      if (s.kind === 'color') {
        this.i2c.attach(s.address, new SimTcs34725({ light: () => ledIrradiance(this.firmware.ledColour(s.name), this.chip.powered && this.firmware.ledLit(s.name)) }));
      }
    }
  }

  static async start(options: VirtualJigOptions): Promise<VirtualJig> {
    const jig = new VirtualJig(options);
    try {
      await jig.wire();
    } catch (err) {
      // Whatever did start (the probe server, the pty) must not keep the process alive.
      await jig.close().catch(() => {});
      throw err;
    }
    return jig;
  }

  get chip(): SimStm32 {
    return this.chipValue;
  }

  /** The station's hardware: the simulated GPIO chip and I2C bus, the probe and console pointing at the simulated DUT. */
  hardware(): Hardware {
    const faults = this.options.faults ?? [];
    const probe = probeSchema.parse({
      kind: 'remote_bitbang',
      target: 'target/stm32f1x.cfg',
      // no-target: a port nothing listens on (the server is closed in wire())
      remote_bitbang: { host: '127.0.0.1', port: this.endpoint.port ?? 1 },
      work_area_size: 0, // the simulated core executes no code: no on-target flash loader
      deadlines: { open_ms: 8_000, command_ms: faults.includes('silent-target') ? 3_000 : 15_000, per_kib_ms: 2_000 },
      openocd: this.options.station.probe?.openocd ?? 'openocd',
    });
    return {
      gpio: this.gpio,
      i2c: this.i2c,
      probe,
      console: this.pty ? { path: this.pty.stationPath, baud: this.options.station.console?.baud ?? 115200 } : undefined,
      onOpenocd: () => void this.openocdProcesses++,
      clock: this.clock,
      scanner: this.scanner,
      printer: this.printer?.connection,
    };
  }

  get lidClosed(): boolean {
    return !this.lidWasOpen;
  }

  /** Close or open the fixture lid: a closed switch drives its active level, an open one lets the line go to its pull. */
  setLid(closed: boolean): void {
    const lid = this.options.station.gpio.inputs.lid_closed;
    if (closed) this.gpio.setLevel(lid.line, !lid.active_low);
    else this.gpio.release(lid.line);
    if (closed && this.lidWasOpen && !this.options.keepUnit) this.newUnit();
    this.lidWasOpen = !closed;
  }

  /** Press and release a button, held well past its debounce time. Released, the line reads its pull. */
  async press(button: 'start' | 'abort', holdMs = 80): Promise<void> {
    const spec = this.options.station.gpio.inputs[button];
    this.gpio.setLevel(spec.line, !spec.active_low);
    await sleep(Math.max(holdMs, spec.debounce_ms * 2));
    this.gpio.release(spec.line);
  }

  outputs(): { dutPower: boolean; green: boolean; red: boolean; amber: boolean; buzzer: boolean } {
    const o = this.options.station.gpio.outputs;
    const active = (s: { line: number } | undefined) => (s ? this.gpio.outputActive(s.line) : false);
    return { dutPower: active(o.dut_power), green: active(o.light_green), red: active(o.light_red), amber: active(o.light_amber), buzzer: active(o.buzzer) };
  }

  /** A fresh, blank chip in the fixture (a new unit, its own UID), with the configured faults. */
  newUnit(): void {
    this.logDut({ ev: 'out', uid: uidOf(this.chip) });
    const chip = new SimStm32({ powered: this.outputs().dutPower });
    this.attachChip(chip);
  }

  async close(): Promise<void> {
    for (const p of this.photos) p.stop();
    for (const c of this.cleanups) c();
    this.chipCleanup?.();
    this.firmware.dispose();
    await this.server.close();
    await this.printer?.close();
    await this.uart?.close();
    await this.pty?.close();
    await this.chip.saveFlash(join(this.options.workDir, 'dut.flash')).catch(() => {});
  }

  private async wire(): Promise<void> {
    const { station, workDir } = this.options;
    const faults = this.options.faults ?? [];
    const chip = this.options.keepUnit ? await SimStm32.loadFlash(join(workDir, 'dut.flash'), { missingOk: true, powered: false }) : this.chipValue;
    this.attachChip(chip);

    // Buttons released and lid open drive nothing: the inputs read their pull resistors (bias),
    // as on a bare Pi - wiring without pull-ups reads the buttons pressed here too.

    // the DUT relay powers the chip (and so its firmware)
    const relay = station.gpio.outputs.dut_power;
    this.cleanups.push(
      this.gpio.onOutput((line, high) => {
        if (line === relay.line) this.chip.power(high !== relay.active_low);
      }),
    );

    // photo sensors: the LED's light drives the sensor's GPIO line
    for (const s of station.light_sensors) {
      if (s.kind !== 'photo') continue;
      const photo = new SimPhotoTransistor(
        { ledLit: (n) => this.chip.powered && this.firmware.ledLit(n), onLedChange: (l) => this.firmware.onLedChange(l) },
        s.name,
        (lit) => this.gpio.setLevel(s.line, lit !== s.active_low),
      );
      photo.start();
      this.photos.push(photo);
    }

    if (!faults.includes('no-target')) this.endpoint = await this.server.listen({ host: '127.0.0.1', port: 0 });
    if (station.label) this.printer = await SimZplPrinter.start(this.options.labelDir ? { outDir: this.options.labelDir } : {});
    if (station.console) {
      this.pty = await createPtyPair({ dir: workDir });
      this.uart = await connectUart(this.firmware, this.pty.dutPath, station.console.baud);
    }
    this.applyFirmwareFaults(faults);
    if (faults.includes('no-power-monitor') && station.power_monitor) {
      // the INA219 answers the start-up check, then dies with the first unit (a broken wire in production)
      const address = station.power_monitor.address;
      const off = this.gpio.onOutput((line, high) => {
        if (line === relay.line && high !== relay.active_low) {
          this.i2c.detach(address);
          off();
        }
      });
      this.cleanups.push(off);
    }
  }

  private attachChip(chip: SimStm32): void {
    this.chipCleanup?.();
    this.chipValue = chip;
    this.server.chip = chip;
    this.server.dropConnections();
    this.applyChipFaults(chip, this.options.faults ?? []);
    const onPower = (on: boolean) => (on ? this.firmware.powerOn() : this.firmware.powerOff());
    // openocd halts the core to program it; its `reset run` boots the new firmware
    const onReset = () => {
      this.logIdentity(chip);
      setImmediate(() => (chip.halted ? this.firmware.halt() : this.firmware.reset()));
    };
    const onErase = (address: number, bytes: number) => this.logDut({ ev: 'erase', uid: uidOf(chip), address, bytes });
    chip.on('power', onPower);
    chip.on('reset', onReset);
    chip.on('flash-erase', onErase);
    this.chipCleanup = () => {
      chip.off('power', onPower);
      chip.off('reset', onReset);
      chip.off('flash-erase', onErase);
    };
    if (chip.powered) this.firmware.powerOn();
    else this.firmware.powerOff();
  }

  private lastIdentity = new Map<string, string>();

  private logIdentity(chip: SimStm32): void {
    if (!this.options.dutLog) return;
    const at = IDENTITY_ADDRESS - FLASH_BASE;
    const id = decodeIdentity(chip.flash.subarray(at, at + IDENTITY_RECORD_SIZE));
    const uid = uidOf(chip);
    const text = id ? `${id.serial} ${id.mac}` : '';
    if (!id || this.lastIdentity.get(uid) === text) return;
    this.lastIdentity.set(uid, text);
    this.logDut({ ev: 'identity', uid, serial: id.serial, mac: id.mac });
  }

  private logDut(event: Record<string, unknown>): void {
    if (this.options.dutLog) appendFileSync(this.options.dutLog, `${JSON.stringify(event)}\n`);
  }

  private applyChipFaults(chip: SimStm32, faults: readonly SimFault[]): void {
    const f: Partial<DutFaults> = chip.faults;
    // bit 3 of the image's first header byte ('P' = 0x50) stuck at 1: reads back 0x58
    if (faults.includes('stuck-bit')) f.stuckBit = { address: FLASH_BASE + 0x100, bit: 3, value: 1 };
    if (faults.includes('drop-connection')) f.dropAfterHalfwords = 300;
    if (faults.includes('dead-chain')) f.deadScanChain = true;
    if (faults.includes('silent-target')) {
      // answers the connection, then goes silent once programming starts
      chip.once('flash-erase', () => (chip.faults.silent = true));
    }
    if (faults.includes('locked-chip')) chip.setReadProtection(true);
    if (faults.includes('lock-ineffective')) f.lockIneffective = true;
  }

  private applyFirmwareFaults(faults: readonly SimFault[]): void {
    const f: Partial<FirmwareFaults> = {};
    const photo = this.options.station.light_sensors.find((s) => s.kind === 'photo');
    const colour = this.options.station.light_sensors.find((s) => s.kind === 'color');
    if (faults.includes('overcurrent')) f.extraCurrentMa = 120;
    if (faults.includes('undercurrent')) f.extraCurrentMa = -20;
    if (faults.includes('dark-led') && photo) f.darkLeds = [photo.name];
    if (faults.includes('wrong-colour') && colour) f.ledColours = { [colour.name]: LED_COLOURS.amber };
    if (faults.includes('console-mute')) f.consoleMute = true;
    if (faults.includes('wrong-version')) f.reportedVersion = '0.9.9';
    if (faults.includes('wrong-serial')) f.reportedSerial = 'XX999999';
    if (Object.keys(f).length) this.firmware.inject(f);
  }
}

/** The chip's UID as the station reads it: the three words, most significant first. */
export function uidOf(chip: SimStm32): string {
  return formatChipUid(chip.uid);
}
