import type { BenchFigure } from './bench.js';
import { SimI2cBus } from '../devices/i2c/i2c.sim.js';
import { Ina219 } from '../devices/power/ina219.js';
import { SimIna219 } from '../devices/power/ina219.sim.js';

/** Bits on the wire for one I2C transaction of `bytes` bytes (address included): 9 per byte + START + STOP. */
const wireBits = (bytes: number): number => 9 * bytes + 2;

/**
 * INA219 figures: driver cost against the register-level simulation, the bus time a sample
 * needs, and the pace the chip allows (one sample per conversion: 17 ms at 16× averaging).
 */
export async function run(): Promise<BenchFigure[]> {
  const bus = new SimI2cBus(1);
  const chip = new SimIna219({ currentMa: () => 35, noiseMa: 0.3, seed: 1 });
  bus.attach(0x40, chip);
  const ina = new Ina219({ bus, shuntOhms: 0.1, maxCurrentA: 0.4 });
  await ina.init();
  await ina.sample(); // first conversion
  const before = bus.stats.transactions;
  const n = 30;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await ina.sample();
  const wallMs = (performance.now() - t0) / n;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / n;
  const transactions = (bus.stats.transactions - before) / n;
  // Per register: pointer write (address + pointer) then a 2-byte read (address + 2 bytes).
  const registers = 5; // calibration check, bus (CNVR), shunt, current, power (clears CNVR)
  const bitsPerSample = registers * (wireBits(2) + wireBits(3));
  return [
    { name: 'ina219 sample() CPU on the simulated bus', value: cpuUs, unit: 'us', method: `process.cpuUsage over ${n} back-to-back samples (waiting for conversions excluded)` },
    { name: 'ina219 back-to-back sample interval, 16x averaging', value: wallMs, unit: 'ms', method: `${n} samples on the simulated chip; datasheet: ${ina.conversionTimeMs.toFixed(2)} ms per conversion` },
    { name: 'ina219 transactions per sample', value: transactions, unit: 'count', method: 'SimI2cBus counter' },
    { name: 'ina219 sample bus time at 100 kHz', value: bitsPerSample / 100, unit: 'ms', method: `computed: ${bitsPerSample} bits on the wire` },
    { name: 'ina219 sample bus time at 400 kHz', value: bitsPerSample / 400, unit: 'ms', method: `computed: ${bitsPerSample} bits on the wire` },
  ];
}
