import type { Framebuffer } from './framebuffer.js';
import type { I2cError } from '../i2c/i2c.js';
import { PijigError } from '../../core/errors.js';

/**
 * The display port the station uses. The real adapter (Ssd1306Display) drives the OLED over an
 * I2cBus; in the virtual jig the same driver talks to a SimI2cBus with a SimOledPanel on it.
 *
 * Contract: both calls are asynchronous and never block the event loop. They reject with a
 * DisplayError (never anything else) which the caller reports; a broken display must not stop
 * the station. `show` copies the frame at once, so the caller may keep drawing into `fb`.
 * Frames requested while one is on the wire are coalesced: only the newest is sent next, and
 * every superseded call settles with the outcome of the frame that replaced it.
 */
export interface Display {
  /** The glass in pixels, as the controller drives it: frames passed to show() are this size. */
  readonly width: number;
  readonly height: number;
  init(): Promise<void>;
  show(fb: Framebuffer): Promise<void>;
}

export type DisplayErrorCode =
  /** The controller did not acknowledge its address (unplugged, wrong address, broken wire). */
  | 'NOT_RESPONDING'
  /** Any other bus fault: arbitration lost, timeout, bus closed, no such bus device. */
  | 'BUS_ERROR';

export class DisplayError extends PijigError<DisplayErrorCode> {
  constructor(code: DisplayErrorCode, message: string, options?: { cause?: I2cError | unknown }) {
    super(code, message, options);
  }
}
