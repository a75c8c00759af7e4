import type { z } from 'zod';
import type { PowerMonitor } from '../devices/power/power-monitor.js';
import type { LightSensor } from '../devices/light/light-sensor.js';
import type { DutConsole } from '../devices/console/dut-console.js';
import type { DebugProbe } from '../devices/probe/probe.js';
import type { ActiveImage } from '../core/image.js';
import type { UnitIdentity } from '../core/identity.js';
import type { ChipSeen, UnitLedger } from '../core/unit-ledger.js';
import type { Measurement } from '../core/record.js';
import type { MeasurementDecl } from '../config/plan.js';

export type { MeasurementDecl };

/** A regular expression a plan gives a step (console `expect`, command `pass_pattern`). */
export interface PlanPattern {
  /** The param that holds it. */
  param: string;
  source: string;
  flags?: string;
}

export interface StepOutput {
  measurements?: Measurement[];
  /** Anything worth keeping in the record: console transcript, openocd phase times, ... */
  data?: Record<string, unknown>;
}

/**
 * The DUT's supply as a step sees it. The station hands out one per cycle: switching on is
 * refused (StepError INTERLOCK) unless the lid is closed and the cycle is still live, so no step
 * can power a unit the operator can reach. Switching off always works.
 */
export interface DutPower {
  set(on: boolean): Promise<void>;
}

/** The devices of the station. */
export interface Devices {
  dutPower: DutPower;
  powerMonitor?: PowerMonitor;
  lightSensors: ReadonlyMap<string, LightSensor>;
  console?: DutConsole;
  probe?: DebugProbe;
}

export type DeviceName = keyof Devices;

/** What a step gets: exactly the devices it declares in `needs`, each present (the runner checks before it runs the step). */
export type StepDevices<N extends DeviceName> = { readonly [K in N]-?: NonNullable<Devices[K]> };

/** Per-cycle resources (the openocd session): created on first use, disposed at teardown. */
export interface CycleResources {
  acquire<T>(key: string, create: () => Promise<T>, dispose: (value: T) => Promise<void>): Promise<T>;
}

/** What a running step sees. */
export interface StepContext<P, N extends DeviceName = DeviceName> {
  step: { name: string; kind: string; timeoutMs: number };
  params: P;
  /** Fires on ABORT, lid open or the step's timeout; a step must stop promptly when it fires. */
  signal: AbortSignal;
  devices: StepDevices<N>;
  image: ActiveImage | undefined;
  /** The unit being tested: what the steps learnt of it (kept for the record and the later steps). */
  unit: UnitState;
  /** The station's ledger for this cycle: the attempt, flashes and the identity go through it, durably, first. */
  ledger: UnitLedger;
  cycle: CycleResources;
  /** 0..1 within this step, with an optional short text for the OLED. */
  progress(fraction: number, text?: string): void;
  log(message: string): void;
}

/** What the steps of one cycle learn of the unit. */
export interface UnitState {
  /** Filled by the identity step. */
  identity?: UnitIdentity;
  /** The chip as the first probe step read it (UID, read-out protection), once admitted by the ledger. */
  chip?: ChipSeen;
  /** The ledger's admission of the chip, once per cycle (a refusal is remembered and repeated). */
  admission?: Promise<void>;
}

/** One kind of step (program, identity, current, ...). Params are validated at plan load. */
export interface StepKind<P = unknown, N extends DeviceName = DeviceName> {
  kind: string;
  description: string;
  params: z.ZodType<P>;
  needs: readonly N[];
  /**
   * Every measurement the step can produce with these params: a limit on anything else refuses the
   * plan at load. Every kind of STEP_KINDS declares it (test/steps/produces.test.ts).
   */
  produces?(params: P): readonly MeasurementDecl[];
  /** The regular expressions in its params (config check warns about ones that can backtrack catastrophically). */
  patterns?(params: P): readonly PlanPattern[];
  run(ctx: StepContext<P, N>): Promise<StepOutput>;
}

export function defineStep<S extends z.ZodType, const N extends DeviceName = never>(step: {
  kind: string;
  description: string;
  params: S;
  needs: readonly N[];
  produces?(params: z.output<S>): readonly MeasurementDecl[];
  patterns?(params: z.output<S>): readonly PlanPattern[];
  run(ctx: StepContext<z.output<S>, N>): Promise<StepOutput>;
}): StepKind<z.output<S>, N> {
  return step as StepKind<z.output<S>, N>;
}
