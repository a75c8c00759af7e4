/** The DUT supply monitor (INA219 in production). Owned by the functional-checks work; may grow. */
export interface PowerSample {
  currentMa: number;
  busVoltageV: number;
}

export interface PowerMonitor {
  /** Configure the chip (calibration); rejects with an I2C error if it does not answer. */
  init(): Promise<void>;
  sample(): Promise<PowerSample>;
}
