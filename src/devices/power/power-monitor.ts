import { PijigError } from '../../core/errors.js';
/**
 * The DUT supply monitor (INA219 in production, SimIna219 on the virtual jig).
 *
 * Contract: `init()` configures the chip (calibration) and may be called again at any time (the
 * current step calls it before every measurement so that a monitor that lost its calibration in
 * a brown-out is set up again). `sample()` returns one conversion result, a new one each call
 * (it waits for the conversion; `signal` cuts the wait short). Both reject with a
 * PowerMonitorError; an I2C fault keeps the I2cError as `cause`.
 */
export interface PowerSample {
  /** Supply current in mA; negative when current flows backwards through the shunt. */
  currentMa: number;
  /** Bus voltage (load side of the shunt) in V. */
  busVoltageV: number;
  /** Voltage across the shunt in mV. */
  shuntVoltageMv: number;
  /**
   * The reading is out of the measurable range: the chip flagged a math overflow (OVF), or the
   * shunt voltage is at the end of the PGA range (saturated). The current is then a lower bound.
   */
  overflow: boolean;
  /** The monitor had lost its calibration (a brown-out reset) and was set up again for this sample. */
  recalibrated?: boolean;
}

export interface PowerMonitor {
  /** Where the monitor sits, for messages: "ina219 i2c-1 0x40". */
  readonly description: string;
  init(): Promise<void>;
  sample(signal?: AbortSignal): Promise<PowerSample>;
}

export type PowerMonitorErrorCode = 'I2C' | 'NOT_INITIALISED' | 'BAD_CONFIG' | 'CALIBRATION_MISMATCH' | 'NO_CONVERSION';

export class PowerMonitorError extends PijigError<PowerMonitorErrorCode> {}
