import type { z } from 'zod';
import type { DigitalOutput } from '../devices/gpio/gpio.js';
import type { PowerMonitor } from '../devices/power/power-monitor.js';
import type { LightSensor } from '../devices/light/light-sensor.js';
import type { DutConsole } from '../devices/console/dut-console.js';
import type { DebugProbe } from '../devices/probe/probe.js';
import type { ActiveImage } from '../media/image.js';

/** A value a step measured. The plan declares its unit and limits; the runner judges it. */
export interface Measurement {
  name: string;
  value: number | string | boolean;
  unit?: string;
}

export interface StepOutput {
  measurements?: Measurement[];
  /** Anything worth keeping in the record: console transcript, openocd phase times, ... */
  data?: Record<string, unknown>;
  /** True when the step wrote the image to the DUT: the station counts flashes per image hash. */
  flashed?: boolean;
}

/** The devices of the station; a step gets the ones it declares in `needs`. */
export interface Devices {
  dutPower: DigitalOutput;
  powerMonitor?: PowerMonitor;
  lightSensors: ReadonlyMap<string, LightSensor>;
  console?: DutConsole;
  probe?: DebugProbe;
}

export type DeviceName = 'powerMonitor' | 'lightSensors' | 'console' | 'probe';

/** The unit's identity; the provider reserves numbers (a ledger in production). */
export interface UnitIdentity {
  serial: string;
  /** "02:00:00:00:00:01" */
  mac: string;
}

export interface IdentityProvider {
  allocate(): Promise<UnitIdentity>;
}

/** Per-cycle resources (the openocd session): created on first use, disposed at teardown. */
export interface CycleResources {
  acquire<T>(key: string, create: () => Promise<T>, dispose: (value: T) => Promise<void>): Promise<T>;
}

/** What a running step sees. */
export interface StepContext<P> {
  step: { name: string; kind: string; timeoutMs: number };
  params: P;
  /** Fires on ABORT, lid open or the step's timeout; a step must stop promptly when it fires. */
  signal: AbortSignal;
  devices: Devices;
  image: ActiveImage | undefined;
  /** The unit being tested: identity is filled by the identity step and kept for the record. */
  unit: { identity?: UnitIdentity };
  identity: IdentityProvider;
  cycle: CycleResources;
  /** 0..1 within this step, with an optional short text for the OLED. */
  progress(fraction: number, text?: string): void;
  log(message: string): void;
}

/** One kind of step (program, identity, current, ...). Params are validated at plan load. */
export interface StepKind<P = unknown> {
  kind: string;
  description: string;
  params: z.ZodType<P>;
  needs: readonly DeviceName[];
  run(ctx: StepContext<P>): Promise<StepOutput>;
}

export function defineStep<S extends z.ZodType>(step: {
  kind: string;
  description: string;
  params: S;
  needs: readonly DeviceName[];
  run(ctx: StepContext<z.output<S>>): Promise<StepOutput>;
}): StepKind<z.output<S>> {
  return step as StepKind<z.output<S>>;
}
