import { I2cError, type I2cBus } from '../i2c/i2c.js';
import { DisplayError, type Display } from './display.js';
import type { Framebuffer } from './framebuffer.js';


export interface Ssd1306Options {
  /** 7-bit I2C address: 0x3C on most modules, 0x3D with the SA0 pad bridged. */
  address: number;
  /** 0.96" panels are SSD1306; most 1.3" panels are SH1106 (132-column RAM, page mode only). */
  controller: OledController;
  /** 0x00..0xFF; 0xCF is the common module default. */
  contrast?: number;
}

export interface DisplayStats {
  /** Frames that reached the panel. */
  frames: number;
  /** Frames replaced by a newer one before they were sent. */
  coalesced: number;
  failures: number;
  /** All I2C transactions and bytes (control bytes included) since construction. */
  transactions: number;
  bytes: number;
  lastFrame: { transactions: number; bytes: number; ms: number } | undefined;
}

// Control byte (first byte of every I2C write): bit 7 Co (0 = the rest of the message is one
// stream), bit 6 D/C# (0 = commands, 1 = GDDRAM data). SSD1306 datasheet 8.1.5.2.
const CONTROL_COMMANDS = 0x00;
const CONTROL_DATA = 0x40;

/**
 * Each controller the driver knows: the glass it drives, its power-up sequence and how a frame
 * reaches its RAM. A new controller is a new entry here (plus its simulated twin, and its name in
 * the station config's `display.controller` enum).
 */
interface ControllerSpec {
  width: number;
  height: number;
  init(contrast: number): number[];
  /**
   * 'horizontal': one window command and one bulk write fill the RAM (SSD1306 horizontal
   * addressing). 'pages': one page at a time, the column pointer set first (page mode only).
   */
  frame: { mode: 'horizontal' } | { mode: 'pages'; columnOffset: number };
}

export const OLED_CONTROLLERS = {
  ssd1306: { width: 128, height: 64, init: (c: number) => initCommands('ssd1306', c), frame: { mode: 'horizontal' } },
  /** The SH1106 has 132 columns of RAM; a 128-pixel glass shows columns 2..129. */
  sh1106: { width: 128, height: 64, init: (c: number) => initCommands('sh1106', c), frame: { mode: 'pages', columnOffset: 2 } },
} as const satisfies Record<string, ControllerSpec>;

export type OledController = keyof typeof OLED_CONTROLLERS;

/**
 * Power-up configuration for a 128x64 panel, in datasheet order. The display stays off until
 * the RAM has been cleared, so the operator never sees the power-on noise.
 */
function initCommands(controller: 'ssd1306' | 'sh1106', contrast: number): number[] {
  const common = [
    0xae, //             display off
    0xd5, 0x80, //       clock divide 1, oscillator default
    0xa8, 0x3f, //       multiplex ratio 64 rows
    0xd3, 0x00, //       display offset 0
    0x40, //             display start line 0
  ];
  const orientation = [
    0xa1, //             segment remap: column 127 drives SEG0 (modules are mounted this way)
    0xc8, //             COM scan from COM63 to COM0
    0xda, 0x12, //       COM pins: alternative configuration, as 64-row panels are wired
    0x81, contrast, //   contrast
  ];
  const tail = [
    0xa4, //             output follows RAM (not all-on)
    0xa6, //             normal (not inverted)
  ];
  if (controller === 'ssd1306') {
    return [
      ...common,
      0x8d, 0x14, //     charge pump on: modules have no external VCC, the glass stays dark without it
      0x20, 0x00, //     horizontal addressing: one bulk write fills the whole RAM
      ...orientation,
      0xd9, 0xf1, //     pre-charge 15 / discharge 1 clocks (internal charge pump)
      0xdb, 0x40, //     VCOMH deselect level
      ...tail,
    ];
  }
  return [
    ...common,
    0xad, 0x8b, //       SH1106 DC-DC converter on (it has no 0x8D charge pump command)
    ...orientation,
    0xd9, 0x22, //       pre-charge, SH1106 reset value
    0xdb, 0x35, //       VCOM deselect level, SH1106 reset value
    ...tail,
  ];
}

interface Waiter {
  resolve(): void;
  reject(e: DisplayError): void;
}

/**
 * Driver for SSD1306 / SH1106 128x64 OLEDs over an I2cBus. Never blocks the event loop (every
 * transfer is an awaited bus call) and never throws: failures reject the caller's promise with a
 * DisplayError. After a failure the next frame re-runs the init sequence first, so a panel that
 * was unplugged or browned out comes back by itself.
 */
export class Ssd1306Display implements Display {
  readonly stats: DisplayStats = { frames: 0, coalesced: 0, failures: 0, transactions: 0, bytes: 0, lastFrame: undefined };
  private readonly contrast: number;
  /** The newest frame not yet sent, in GDDRAM page order. */
  private pending: Uint8Array | undefined;
  private waiters: Waiter[] = [];
  private pumping = false;
  /** Serialises bus use: a frame's transactions never interleave with init/sleep/wake. */
  private queue: Promise<void> = Promise.resolve();
  private configured = false;
  private readonly spec: ControllerSpec;
  readonly width: number;
  readonly height: number;

  constructor(
    private readonly bus: I2cBus,
    private readonly opts: Ssd1306Options,
  ) {
    this.contrast = Math.max(0, Math.min(255, Math.round(opts.contrast ?? 0xcf)));
    this.spec = OLED_CONTROLLERS[opts.controller];
    this.width = this.spec.width;
    this.height = this.spec.height;
  }

  get controller(): OledController {
    return this.opts.controller;
  }

  /** Configure the controller, clear its RAM and switch the glass on. */
  init(): Promise<void> {
    return this.exclusive(() => this.configure());
  }

  show(fb: Framebuffer): Promise<void> {
    if (fb.width !== this.width || fb.height !== this.height) {
      return Promise.reject(new DisplayError('BUS_ERROR', `OLED ${this.opts.controller}: a ${fb.width}x${fb.height} frame on a ${this.width}x${this.height} panel`));
    }
    if (this.pending) this.stats.coalesced++;
    this.pending = fb.toPages();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.pump();
    return done;
  }

  /** Glass off (RAM kept); the panel draws under 10 uA. */
  sleep(): Promise<void> {
    return this.exclusive(() => this.commands([0xae], 'sleep'));
  }

  wake(): Promise<void> {
    return this.exclusive(() => this.commands([0xaf], 'wake'));
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.exclusive(async () => {
      while (this.pending) {
        const frame = this.pending;
        const waiters = this.waiters;
        this.pending = undefined;
        this.waiters = [];
        try {
          if (!this.configured) await this.configure();
          await this.sendFrame(frame);
          for (const w of waiters) w.resolve();
        } catch (e) {
          const err = asDisplayError(e, 'frame', this.opts);
          for (const w of waiters) w.reject(err);
        }
      }
    }).finally(() => {
      this.pumping = false;
      if (this.pending) this.pump();
    });
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async configure(): Promise<void> {
    this.configured = false;
    await this.commands(this.spec.init(this.contrast), 'init');
    await this.sendFrame(new Uint8Array(this.width * (this.height / 8)), false);
    await this.commands([0xaf], 'display on');
    this.configured = true;
  }

  private async sendFrame(pages: Uint8Array, count = true): Promise<void> {
    const start = performance.now();
    const before = { t: this.stats.transactions, b: this.stats.bytes };
    const width = this.width;
    const pageCount = this.height / 8;
    const frame = this.spec.frame;
    if (frame.mode === 'horizontal') {
      // Window = the whole RAM; in horizontal mode the pointer wraps the last column -> next page,
      // so one data message fills every page.
      await this.commands([0x21, 0, width - 1, 0x22, 0, pageCount - 1], 'frame');
      await this.write(prefixed(CONTROL_DATA, pages), 'frame');
    } else {
      // Page addressing only; the column pointer must be set for each page.
      const col = frame.columnOffset;
      for (let page = 0; page < pageCount; page++) {
        await this.commands([0xb0 | page, col & 0x0f, 0x10 | (col >> 4)], 'frame');
        await this.write(prefixed(CONTROL_DATA, pages.subarray(page * width, (page + 1) * width)), 'frame');
      }
    }
    if (count) {
      this.stats.frames++;
      this.stats.lastFrame = {
        transactions: this.stats.transactions - before.t,
        bytes: this.stats.bytes - before.b,
        ms: performance.now() - start,
      };
    }
  }

  private commands(cmds: number[], what: string): Promise<void> {
    return this.write(prefixed(CONTROL_COMMANDS, Uint8Array.from(cmds)), what);
  }

  private async write(data: Uint8Array, what: string): Promise<void> {
    try {
      await this.bus.write(this.opts.address, data);
      this.stats.transactions++;
      this.stats.bytes += data.length;
    } catch (e) {
      this.configured = false;
      this.stats.failures++;
      throw asDisplayError(e, what, this.opts);
    }
  }
}

function prefixed(control: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = control;
  out.set(payload, 1);
  return out;
}

function asDisplayError(e: unknown, what: string, opts: Ssd1306Options): DisplayError {
  if (e instanceof DisplayError) return e;
  const where = `OLED ${opts.controller} at 0x${opts.address.toString(16).padStart(2, '0')}`;
  const message = e instanceof Error ? e.message : String(e);
  const code = e instanceof I2cError && e.code === 'EREMOTEIO' ? 'NOT_RESPONDING' : 'BUS_ERROR';
  return new DisplayError(code, `${where}: ${what} failed: ${message}`, { cause: e });
}
