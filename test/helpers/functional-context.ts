import { declared } from './step-context.js';
import type { Devices, StepContext, StepKind, StepOutput } from '../../src/steps/step.js';
import type { UnitIdentity } from '../../src/core/identity.js';
import type { ActiveImage } from '../../src/core/image.js';
import type { DigitalOutput } from '../../src/devices/gpio/gpio.js';
import { buildSimFirmware } from '../../src/sim/firmware-image.js';
import { encodeIdentity } from '../../src/steps/identity-record.js';
import { DutFirmware, type DutFirmwareOptions } from '../../src/sim/firmware/dut-firmware.js';
import { createPtyPair } from '../../src/sim/firmware/pty.js';
import { connectUart } from '../../src/devices/console/uart.sim.js';
import { SerialConsole } from '../../src/devices/console/serial-console.js';

export interface FunctionalContextOptions {
  devices?: Partial<Omit<Devices, 'dutPower'>>;
  image?: Partial<ActiveImage>;
  identity?: UnitIdentity;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface FunctionalHarness<P> {
  ctx: StepContext<P>;
  progress: Array<{ fraction: number; text: string | undefined }>;
  logs: string[];
}

class RecordingOutput implements DigitalOutput {
  active = false;
  constructor(readonly name: string) {}
  async set(active: boolean): Promise<void> {
    this.active = active;
  }
}

/** A StepContext for functional-check steps: params parsed by the step's schema, devices as given. */
export function functionalContext<P>(step: StepKind<P>, rawParams: unknown, options: FunctionalContextOptions = {}): FunctionalHarness<P> {
  const progress: FunctionalHarness<P>['progress'] = [];
  const logs: string[] = [];
  const image: ActiveImage = {
    bundleId: 'unsigned-sim',
    product: 'demo',
    version: '1.2.0',
    target: 'stm32f1x',
    regions: [],
    imageHash: '0'.repeat(64),
    ...options.image,
  };
  const ctx: StepContext<P> = {
    step: { name: step.kind, kind: step.kind, timeoutMs: options.timeoutMs ?? 10_000 },
    params: step.params.parse(rawParams),
    signal: options.signal ?? new AbortController().signal,
    // like the runner: the step sees only the devices it declares
    devices: declared(step, { dutPower: new RecordingOutput('dut-power'), lightSensors: new Map(), ...options.devices }),
    image,
    unit: options.identity ? { identity: options.identity } : {},
    ledger: {
      admit: async () => ({ attempt: 1 }),
      beginFlash: async () => {},
      identity: async () => ({ identity: options.identity ?? { serial: 'SN000001', mac: '02:00:00:00:00:01' }, reused: false }),
    },
    cycle: { acquire: async (_key, create) => create() },
    progress: (fraction, text) => progress.push({ fraction, text }),
    log: (message) => logs.push(message),
  };
  return { ctx, progress, logs };
}

/** Run a step in a functional context. */
export async function runStep<P>(step: StepKind<P>, rawParams: unknown, options: FunctionalContextOptions = {}): Promise<StepOutput> {
  return step.run(functionalContext(step, rawParams, options).ctx);
}

/** A measurement's value by name (throws when absent, so a test names what is missing). */
export function measurement(output: StepOutput, name: string): number | string | boolean {
  const found = output.measurements?.find((m) => m.name === name);
  if (!found) throw new Error(`no measurement "${name}" in ${JSON.stringify(output.measurements?.map((m) => m.name))}`);
  return found.value;
}

export const FLASH_BASE = 0x08000000;
export const FLASH_SIZE = 64 * 1024;

/** A 64 KiB F103 flash image: blank, or holding the demo firmware and optionally an identity record. */
export function simFlash(content: { firmware?: { product: string; version: string }; identity?: UnitIdentity; foreign?: boolean } = {}): Uint8Array {
  const flash = new Uint8Array(FLASH_SIZE).fill(0xff);
  if (content.firmware) flash.set(buildSimFirmware(content.firmware), 0);
  if (content.foreign) flash.set(Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) & 0xff), 0);
  if (content.identity) flash.set(encodeIdentity(content.identity), 0xfc00);
  return flash;
}

/** A DutFirmware reading from `flash` (a plain array standing in for the chip model). */
export function simFirmware(flash: Uint8Array, options: Partial<DutFirmwareOptions> = {}): DutFirmware {
  return new DutFirmware({
    readFlash: (address, length) => flash.slice(address - FLASH_BASE, address - FLASH_BASE + length),
    ...options,
  });
}

export const DEMO = { product: 'demo', version: '1.2.0' } as const;
export const UNIT: UnitIdentity = { serial: 'PJ0000042', mac: '02:00:00:00:00:2a' };

/**
 * The console rig: a real socat pty, the simulated firmware on the DUT end, a real SerialConsole
 * (serialport) on the station end. The firmware is powered once the console is open.
 */
export async function consoleRig(flash: Uint8Array, options: Partial<DutFirmwareOptions> = {}) {
  const pair = await createPtyPair();
  const firmware = simFirmware(flash, { bootDelayMs: 5, replyDelayMs: 1, ...options });
  const link = await connectUart(firmware, pair.dutPath);
  const console = new SerialConsole({ path: pair.stationPath });
  return {
    pair,
    firmware,
    console,
    /** Open the console, power the DUT and wait for its banner. */
    async boot(): Promise<void> {
      await console.open();
      firmware.powerOn();
      await console.expect(/^PIJIG-SIM /, 5000, new AbortController().signal);
    },
    async close(): Promise<void> {
      firmware.dispose();
      await console.close();
      await link.close();
      await pair.close();
    },
  };
}
