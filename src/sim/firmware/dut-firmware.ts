import { identifyFirmware } from '../firmware-image.js';
import { decodeIdentity, IDENTITY_RECORD_SIZE } from '../../steps/identity-record.js';
import type { UartPeer } from '../../devices/console/uart.sim.js';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

export const LED_COLOURS = {
  red: { r: 255, g: 0, b: 0 },
  green: { r: 0, g: 255, b: 0 },
  blue: { r: 0, g: 0, b: 255 },
  yellow: { r: 255, g: 200, b: 0 },
  amber: { r: 255, g: 120, b: 0 },
  white: { r: 255, g: 255, b: 255 },
} as const satisfies Record<string, Rgb>;

export type LedMode = { mode: 'off' } | { mode: 'on' } | { mode: 'blink'; hz: number };

export interface LedSpec {
  colour: Rgb;
  /** What the firmware does with this LED once booted. */
  atBoot: LedMode;
}

export interface LedState {
  mode: 'off' | 'on' | 'blink';
  /** Blink frequency (0 unless blinking). */
  hz: number;
  /** Physically lit right now (faults included). */
  lit: boolean;
}

/** Supply current model, mA. */
export interface CurrentModel {
  /** Held in reset or booting. */
  resetMa: number;
  /** Powered, no runnable firmware (blank, foreign), or halted by the debugger. */
  idleMa: number;
  /** Firmware running, LEDs dark. */
  runningMa: number;
  /** Each physically lit LED. */
  perLedMa: number;
}

export interface FirmwareFaults {
  /** Added to the supply current: positive = overcurrent (a short), negative = undercurrent (a part missing). */
  extraCurrentMa: number;
  /** LEDs that stay dark whatever the firmware drives (open LED, reversed part). */
  darkLeds: string[];
  /** LEDs fitted in the wrong colour. */
  ledColours: Record<string, Rgb>;
  /** The console never answers (broken UART line): no banner, no replies. */
  consoleMute: boolean;
  /** The firmware reports this version instead of the image's. */
  reportedVersion: string | undefined;
  /** `id` reports this serial instead of the one in the identity record. */
  reportedSerial: string | undefined;
}

export interface DutFirmwareOptions {
  /** Read the DUT's flash (the chip model's memory). */
  readFlash(address: number, length: number): Uint8Array;
  flashBase?: number;
  /** Largest image the boot check reads. */
  maxImageBytes?: number;
  /** The board this is: firmware built for another product does not boot. */
  expected?: { product: string };
  /** Where the identity record lives (the last 1 KiB page of a 64 KiB F103 by default). */
  identityAddress?: number;
  bootDelayMs?: number;
  /** Time the firmware takes to answer a command. */
  replyDelayMs?: number;
  temperatureC?: () => number;
  leds?: Record<string, LedSpec>;
  current?: Partial<CurrentModel>;
}

export type FirmwareState = 'off' | 'booting' | 'running' | 'idle' | 'halted';

const DEFAULT_LEDS: Record<string, LedSpec> = {
  pwr: { colour: LED_COLOURS.red, atBoot: { mode: 'on' } },
  status: { colour: LED_COLOURS.green, atBoot: { mode: 'blink', hz: 2 } },
};
const DEFAULT_CURRENT: CurrentModel = { resetMa: 3, idleMa: 4, runningMa: 25, perLedMa: 5 };
const NO_FAULTS: FirmwareFaults = {
  extraCurrentMa: 0,
  darkLeds: [],
  ledColours: {},
  consoleMute: false,
  reportedVersion: undefined,
  reportedSerial: undefined,
};
const HEADER_BYTES = 0x150;

interface Led {
  spec: LedSpec;
  mode: LedMode;
  driven: boolean;
  timer: ReturnType<typeof setInterval> | undefined;
}

/**
 * The simulated DUT's firmware behaviour, decoupled from the chip model: it sees flash through
 * `readFlash` and is told about power and reset. On power-on or reset it checks the flash like a
 * boot loader would (identifyFirmware); a recognised image boots after `bootDelayMs`, prints a
 * banner and answers its console; blank or foreign flash stays silent, like real hardware.
 *
 * Console (lines end in CR LF; input lines end in CR or LF):
 *   help                      -> commands: ...
 *   version                   -> fw=<version>
 *   id                        -> sn=<serial> mac=<mac>   (sn=none mac=none without a valid record)
 *   temp                      -> temp=<°C, one decimal>
 *   led <name> on|off         -> ok
 *   led <name> blink <hz>     -> ok
 *   anything else             -> err <reason>
 * The identity record is read on each `id`, so a record written after boot is seen at once.
 */
export class DutFirmware implements UartPeer {
  private stateValue: FirmwareState = 'off';
  private info: { product: string; version: string } | undefined;
  private readonly leds = new Map<string, Led>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly txListeners = new Set<(data: Uint8Array) => void>();
  private readonly ledListeners = new Set<(name: string, lit: boolean) => void>();
  private rxBuffer = '';
  private faultsValue: FirmwareFaults = structuredClone(NO_FAULTS);
  private readonly current: CurrentModel;

  constructor(private readonly options: DutFirmwareOptions) {
    this.current = { ...DEFAULT_CURRENT, ...options.current };
    for (const [name, spec] of Object.entries(options.leds ?? DEFAULT_LEDS)) {
      this.leds.set(name, { spec, mode: { mode: 'off' }, driven: false, timer: undefined });
    }
  }

  get state(): FirmwareState {
    return this.stateValue;
  }

  /** The firmware found at the last boot (undefined when blank, foreign or not booted). */
  get firmware(): { product: string; version: string } | undefined {
    return this.info;
  }

  get ledNames(): string[] {
    return [...this.leds.keys()];
  }

  // --- power and reset (from the chip model / the jig's power relay) ---

  powerOn(): void {
    if (this.stateValue !== 'off') return;
    this.startBoot();
  }

  powerOff(): void {
    this.stop();
    this.stateValue = 'off';
  }

  /** A reset pulse (NRST or SYSRESETREQ): the firmware restarts from the boot check. */
  reset(): void {
    if (this.stateValue === 'off') return;
    this.startBoot();
  }

  /** The debugger halted the core: nothing runs (no blinking, no console) until the next reset. */
  halt(): void {
    if (this.stateValue === 'off') return;
    this.stopTimers();
    this.stateValue = 'halted';
  }

  /** Stop every timer; the object can be dropped afterwards. */
  dispose(): void {
    this.powerOff();
    this.txListeners.clear();
    this.ledListeners.clear();
  }

  // --- what the other simulated devices see ---

  supplyCurrentMa(): number {
    if (this.stateValue === 'off') return 0;
    const c = this.current;
    const base = this.stateValue === 'booting' ? c.resetMa : this.stateValue === 'running' ? c.runningMa : c.idleMa;
    return Math.max(0, base + this.litCount() * c.perLedMa + this.faultsValue.extraCurrentMa);
  }

  ledState(name: string): LedState {
    const led = this.led(name);
    return { mode: led.mode.mode, hz: led.mode.mode === 'blink' ? led.mode.hz : 0, lit: this.physicallyLit(name, led) };
  }

  ledLit(name: string): boolean {
    return this.physicallyLit(name, this.led(name));
  }

  /** The colour the LED emits when lit (the fitted part's, faults included). */
  ledColour(name: string): Rgb {
    return { ...(this.faultsValue.ledColours[name] ?? this.led(name).spec.colour) };
  }

  onLedChange(listener: (name: string, lit: boolean) => void): () => void {
    this.ledListeners.add(listener);
    return () => this.ledListeners.delete(listener);
  }

  // --- UART ---

  receive(data: Uint8Array): void {
    if (this.stateValue !== 'running' || this.faultsValue.consoleMute) return;
    this.rxBuffer += Buffer.from(data).toString('latin1');
    for (;;) {
      const end = this.rxBuffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.rxBuffer.slice(0, end).trim();
      this.rxBuffer = this.rxBuffer.slice(end + 1);
      if (line) this.later(this.options.replyDelayMs ?? 2, () => this.command(line));
    }
    if (this.rxBuffer.length > 256) this.rxBuffer = ''; // the firmware's line buffer overflows
  }

  onTransmit(listener: (data: Uint8Array) => void): () => void {
    this.txListeners.add(listener);
    return () => this.txListeners.delete(listener);
  }

  // --- fault injection ---

  get faults(): Readonly<FirmwareFaults> {
    return this.faultsValue;
  }

  inject(faults: Partial<FirmwareFaults>): void {
    const before = new Map(this.ledNames.map((name) => [name, this.ledLit(name)]));
    this.faultsValue = { ...this.faultsValue, ...faults };
    for (const [name, lit] of before) if (this.ledLit(name) !== lit) this.emitLed(name);
  }

  clearFaults(): void {
    this.inject(structuredClone(NO_FAULTS));
  }

  // --- internals ---

  private startBoot(): void {
    this.stop();
    this.stateValue = 'booting';
    this.later(this.options.bootDelayMs ?? 80, () => this.boot());
  }

  private boot(): void {
    this.info = this.checkFlash();
    if (!this.info) {
      this.stateValue = 'idle';
      return;
    }
    this.stateValue = 'running';
    for (const [name, led] of this.leds) this.drive(name, led, led.spec.atBoot);
    this.print(`PIJIG-SIM ${this.info.product} fw=${this.reportedVersion()}`);
  }

  private checkFlash(): { product: string; version: string } | undefined {
    const base = this.options.flashBase ?? 0x08000000;
    try {
      const header = this.options.readFlash(base, HEADER_BYTES);
      const bodyLength = Buffer.from(header.buffer, header.byteOffset, header.byteLength).readUInt32LE(0x148);
      const length = Math.min(this.options.maxImageBytes ?? 0x10000, HEADER_BYTES + bodyLength);
      const found = identifyFirmware(length > HEADER_BYTES ? this.options.readFlash(base, length) : header);
      if (found.state !== 'firmware') return undefined;
      if (this.options.expected && found.product !== this.options.expected.product) return undefined;
      return { product: found.product, version: found.version };
    } catch {
      return undefined; // unreadable flash: nothing boots
    }
  }

  private command(line: string): void {
    if (this.stateValue !== 'running' || this.faultsValue.consoleMute) return;
    const [cmd, ...args] = line.split(/\s+/);
    switch (cmd) {
      case 'help':
        return this.print('commands: help version id temp led <name> on|off|blink <hz>');
      case 'version':
        return this.print(`fw=${this.reportedVersion()}`);
      case 'id':
        return this.print(this.identityLine());
      case 'temp':
        return this.print(`temp=${(this.options.temperatureC?.() ?? 27.5).toFixed(1)}`);
      case 'led':
        return this.print(this.ledCommand(args));
      default:
        return this.print(`err unknown command: ${cmd}`);
    }
  }

  private identityLine(): string {
    let identity;
    try {
      identity = decodeIdentity(this.options.readFlash(this.options.identityAddress ?? 0x0800fc00, IDENTITY_RECORD_SIZE));
    } catch {
      identity = undefined;
    }
    if (!identity) return 'sn=none mac=none';
    return `sn=${this.faultsValue.reportedSerial ?? identity.serial} mac=${identity.mac}`;
  }

  private ledCommand(args: string[]): string {
    const [name, action, hzText] = args;
    const led = name === undefined ? undefined : this.leds.get(name);
    if (!led) return `err unknown led: ${name ?? ''} (have ${this.ledNames.join(', ')})`;
    if (action === 'on' || action === 'off') {
      this.drive(name!, led, { mode: action });
      return 'ok';
    }
    if (action === 'blink') {
      const hz = Number(hzText);
      if (!(hz > 0 && hz <= 50)) return `err blink frequency must be 0 < hz <= 50, got ${hzText ?? 'nothing'}`;
      this.drive(name!, led, { mode: 'blink', hz });
      return 'ok';
    }
    return `err usage: led <name> on|off|blink <hz>`;
  }

  private drive(name: string, led: Led, mode: LedMode): void {
    if (led.timer) clearInterval(led.timer);
    led.timer = undefined;
    led.mode = mode;
    this.setDriven(name, led, mode.mode !== 'off');
    if (mode.mode === 'blink') {
      led.timer = setInterval(() => this.setDriven(name, led, !led.driven), 500 / mode.hz);
    }
  }

  private setDriven(name: string, led: Led, driven: boolean): void {
    const before = this.physicallyLit(name, led);
    led.driven = driven;
    if (this.physicallyLit(name, led) !== before) this.emitLed(name);
  }

  private physicallyLit(name: string, led: Led): boolean {
    return led.driven && !this.faultsValue.darkLeds.includes(name);
  }

  private litCount(): number {
    let n = 0;
    for (const [name, led] of this.leds) if (this.physicallyLit(name, led)) n++;
    return n;
  }

  private emitLed(name: string): void {
    const lit = this.ledLit(name);
    for (const listener of [...this.ledListeners]) listener(name, lit);
  }

  private reportedVersion(): string {
    return this.faultsValue.reportedVersion ?? this.info?.version ?? '?';
  }

  private print(text: string): void {
    if (this.faultsValue.consoleMute) return;
    const bytes = new Uint8Array(Buffer.from(`${text}\r\n`, 'latin1'));
    for (const listener of [...this.txListeners]) listener(bytes);
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const led of this.leds.values()) {
      if (led.timer) clearInterval(led.timer);
      led.timer = undefined;
    }
  }

  /** Back to the reset state: timers stopped, LEDs dark, line buffer and boot info cleared. */
  private stop(): void {
    this.stopTimers();
    this.rxBuffer = '';
    this.info = undefined;
    for (const [name, led] of this.leds) {
      led.mode = { mode: 'off' };
      this.setDriven(name, led, false);
    }
  }

  private led(name: string): Led {
    const led = this.leds.get(name);
    if (!led) throw new RangeError(`the simulated DUT has no LED "${name}" (has ${this.ledNames.join(', ')})`);
    return led;
  }
}
