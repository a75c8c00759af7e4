import { randomUUID } from 'node:crypto';
import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import type { ActiveImage } from '../core/image.js';
import type { IdentityBlock } from '../core/blocks.js';
import { errorMessage } from '../core/errors.js';
import type { StepRecord, UnitRecord } from '../core/record.js';
import type { Books } from '../records/books.js';
import type { StepPlan } from '../steps/registry.js';
import type { Devices } from '../steps/step.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { Interlock } from './interlock.js';
import { StateMachine, type StationEvent, type StationState } from './machine.js';
import { runPlan, type CycleOutcome } from './runner.js';
import { CycleLedger } from './cycle-ledger.js';

/**
 * What the station runs: a plan, the image it flashes, the identity block it numbers units from
 * (this station's block of the bundle, else the station config's; checked against the ledger, and
 * recorded in it with its first number), and the order that caps flashing.
 */
export interface Job {
  plan: StepPlan;
  image: ActiveImage | undefined;
  block?: IdentityBlock;
  /** Where the block comes from ("bundle 1.4.2 (ab12...)", "station config /etc/pijig/station.yaml"). */
  blockSource?: string;
  orderQuantity?: number;
  /** The bundle's order id: flashes count per order (per image when there is none). */
  order?: string;
}

export interface StationInputs {
  start: DigitalInput;
  abort: DigitalInput;
  lidClosed: DigitalInput;
}

export interface StationDeps {
  stationId: string;
  inputs: StationInputs;
  /** The DUT's supply relay. Only the interlock drives it; steps get a per-cycle handle. */
  dutRelay: DigitalOutput;
  devices: Omit<Devices, 'dutPower'>;
  /** The journal and the ledger (records/books.ts). */
  books: Books;
  /** A reason START must wait (an image import in progress), or undefined. */
  startGate?: () => string | undefined;
}

/** Why START did not start a cycle. */
export type StartRefusal =
  | { reason: 'lid-open' }
  | { reason: 'busy'; what: string }
  | { reason: 'order-complete'; flashed: number; quantity: number }
  /** The ledger cannot be read or written: nothing may be flashed or numbered. */
  | { reason: 'order-check-failed'; message: string };

/** A station fault: no cycle runs while one is active. `source` names who raised it (and clears it). */
export interface StationFault {
  source: string;
  title: string;
  lines: string[];
}

/** The running cycle as the operator follows it. */
export interface CycleProgress {
  /** 0-based index of the running step among steps + teardown. */
  index: number;
  count: number;
  step: string;
  /** 0..1 within the running step. */
  fraction: number;
  text?: string;
  startedAt: Date;
}

export interface Counts {
  pass: number;
  fail: number;
  error: number;
}

/** What the station is doing, for the operator panel and the engineer. */
export interface StationStatus {
  state: StationState;
  job?: { plan: string; product: string; version?: string; bundleId?: string; imageHash?: string; orderQuantity?: number; flashed?: number };
  /** Results with the active image (or every unit when no image is active). */
  counts: Counts;
  faults: StationFault[];
  cycle?: CycleProgress;
  last?: UnitRecord;
  lidClosed: boolean;
  dutPowered: boolean;
}

export type StationEvents = {
  state: [from: StationState, to: StationState, event: StationEvent];
  /** A job was loaded (or failed to load: undefined). */
  job: [job: Job | undefined];
  refused: [refusal: StartRefusal];
  /** A step started (fraction 0) or reported progress. */
  progress: [progress: CycleProgress];
  step: [record: StepRecord];
  record: [record: UnitRecord];
  fault: [fault: StationFault];
  log: [message: string];
  'listener-error': [event: string, error: unknown];
};

/**
 * The operator cycle: the transition table, the interlock, the cycle and its record. The DUT
 * relay is energised only while a cycle runs with the lid closed; ABORT or the lid opening
 * cancels the running step and drops the relay in the same tick. The unit record is journaled
 * (fsync) before the result is announced. What the operator sees and hears is the operator
 * panel's business (operator/panel.ts): the station only says what happens.
 */
export class Station extends TypedEmitter<StationEvents> {
  private readonly machine = new StateMachine((from, to, event) => this.emit('state', from, to, event));
  private readonly interlock: Interlock;
  private cycle: { controller: AbortController; done: Promise<void>; progress: CycleProgress } | undefined;
  private unsubscribers: (() => void)[] = [];
  private job: Job | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly faults = new Map<string, StationFault>();
  private last: UnitRecord | undefined;

  constructor(private readonly deps: StationDeps) {
    super();
    this.interlock = new Interlock(deps.dutRelay, deps.inputs.lidClosed, (m) => this.log(m));
  }

  get state(): StationState {
    return this.machine.state;
  }

  get running(): boolean {
    return this.cycle !== undefined;
  }

  /** Subscribe to the inputs, DUT off. The station stays idle until a job is loaded. */
  async start(): Promise<void> {
    const { inputs } = this.deps;
    this.unsubscribers = [
      inputs.lidClosed.onChange((closed) => (closed ? this.fire('lid_close') : this.onLidOpen())),
      inputs.abort.onChange((pressed) => pressed && this.onAbort('ABORT pressed')),
      inputs.start.onChange((pressed) => pressed && this.onStart()),
    ];
    await this.interlock.off();
  }

  /** Stop the service: cancel any cycle, DUT off. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribers) off();
    this.unsubscribers = [];
    this.cycle?.controller.abort('service stopping');
    await this.interlock.off();
    await this.cycle?.done;
  }

  /** Resolves when no cycle is running (e.g. for an image import that must not happen mid-cycle). */
  waitUntilIdle(): Promise<void> {
    if (!this.cycle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The job to run from now on (at start-up, after a bundle import). A cycle already running finishes with its own. */
  setJob(job: Job): void {
    this.job = job;
    this.faults.delete('job');
    this.emit('job', job);
    this.settle();
  }

  /** No job can be loaded (no plan, a broken plan): the station stays in error until setJob(). */
  jobFailed(error: Error): void {
    this.job = undefined;
    this.emit('job', undefined);
    this.raise({ source: 'job', title: 'NO TEST PLAN', lines: [error.message] });
  }

  /** A station fault (a device missing): no cycle until clearFault(source). Waits for a running cycle to end. */
  reportFault(fault: StationFault): void {
    this.faults.set(fault.source, fault);
    if (this.state !== 'running') this.raise(fault);
  }

  clearFault(source: string): void {
    if (!this.faults.delete(source)) return;
    this.settle();
  }

  status(): StationStatus {
    const image = this.job?.image;
    const flashed = image ? this.deps.books.orderUnits(this.job?.order, image.imageHash) : undefined;
    return {
      state: this.state,
      ...(this.job
        ? {
            job: {
              plan: this.job.plan.name,
              product: this.job.plan.product,
              ...(image ? { version: image.version, bundleId: image.bundleId, imageHash: image.imageHash, flashed } : {}),
              ...(this.job.orderQuantity !== undefined ? { orderQuantity: this.job.orderQuantity } : {}),
            },
          }
        : {}),
      counts: this.counts(),
      faults: [...this.faults.values()],
      ...(this.cycle ? { cycle: { ...this.cycle.progress } } : {}),
      ...(this.last ? { last: this.last } : {}),
      lidClosed: this.deps.inputs.lidClosed.active,
      dutPowered: this.interlock.powered,
    };
  }

  /** Derived from the ledger (which the journal reconciles at open): they never drift from the records. */
  private counts(): Counts {
    const c = this.deps.books.counts(this.job?.image?.imageHash);
    return { pass: c.PASS, fail: c.FAIL, error: c.ERROR };
  }

  /** Enter error with this fault (error -> error for a new one). */
  private raise(fault: StationFault): void {
    this.faults.set(fault.source, fault);
    this.emit('fault', fault);
    this.fire('fault');
  }

  /** After a fault cleared or a job loaded: the next fault, or ready when none is left and there is a job. */
  private settle(): void {
    if (this.state === 'running') return;
    const pending = [...this.faults.values()].at(-1);
    if (pending) return this.raise(pending);
    if (!this.job) return;
    if (this.state === 'error') this.fire('recover');
    else if (this.state === 'idle') this.fire('devices_ok');
  }

  private fire(event: StationEvent): void {
    const before = this.state;
    if (this.machine.fire(event) === undefined) this.log(`${event} ignored in state ${before}`);
  }

  private onStart(): void {
    if (this.state !== 'ready') return this.log(`START ignored in state ${this.state}`);
    const job = this.job;
    if (!job) return;
    if (!this.deps.inputs.lidClosed.active) {
      this.fire('start_lid_open');
      this.emit('refused', { reason: 'lid-open' });
      return;
    }
    const wait = this.deps.startGate?.();
    if (wait) return this.emit('refused', { reason: 'busy', what: wait });
    // The order cap reads the ledger; a ledger that cannot be read or written refuses START.
    const problem = this.deps.books.problemNow();
    if (problem) {
      this.log(`ORDER CHECK FAILED: ${problem}`);
      return this.emit('refused', { reason: 'order-check-failed', message: problem });
    }
    this.begin(job);
  }

  private begin(job: Job): void {
    const quantity = job.orderQuantity;
    const flashed = job.image ? this.deps.books.orderUnits(job.order, job.image.imageHash) : 0;
    if (quantity !== undefined && flashed >= quantity) return this.emit('refused', { reason: 'order-complete', flashed, quantity });
    const controller = new AbortController();
    const progress: CycleProgress = { index: 0, count: job.plan.steps.length + job.plan.teardown.length, step: job.plan.steps[0]?.name ?? '', fraction: 0, startedAt: new Date() };
    const cycle = { controller, progress, done: Promise.resolve() };
    this.cycle = cycle;
    this.fire('start');
    cycle.done = this.runCycle(job, controller, progress).finally(() => {
      this.cycle = undefined;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private onAbort(why: string): void {
    // Interlock first, in the same tick as the input edge: the relay drops whatever the step is doing.
    void this.interlock.off();
    if (this.cycle && !this.cycle.controller.signal.aborted) {
      this.fire(why === 'lid opened' ? 'lid_open' : 'abort');
      this.cycle.controller.abort(why);
    }
  }

  private onLidOpen(): void {
    if (this.cycle) return this.onAbort('lid opened');
    void this.interlock.off();
    this.fire('lid_open');
  }

  private async runCycle(job: Job, controller: AbortController, progress: CycleProgress): Promise<void> {
    const { plan, image } = job;
    const started = progress.startedAt;
    const id = randomUUID();
    const measurements = [...plan.steps, ...plan.teardown].flatMap((s) => Object.keys(s.limits));
    const planInfo = { name: plan.name, product: plan.product, ...(measurements.length ? { measurements } : {}) };
    const imageInfo = image
      ? { bundleId: image.bundleId, version: image.version, imageHash: image.imageHash, regions: Object.fromEntries(image.regions.map((r) => [r.name, r.sha256])) }
      : undefined;
    const ledger = new CycleLedger(this.deps.books, {
      header: { cycle: id, startedAt: started.toISOString(), plan: planInfo, ...(imageInfo ? { image: imageInfo } : {}), ...(job.order ? { order: job.order } : {}) },
      block: job.block,
      blockSource: job.blockSource,
      orderQuantity: job.orderQuantity,
      order: job.order,
      maxAttempts: plan.retest?.max_attempts,
    });
    const power = this.interlock.forCycle(controller.signal);
    this.emit('progress', { ...progress });
    let outcome: CycleOutcome;
    try {
      // Interlock: the relay goes on only now, and only if the lid is still closed.
      if (!this.deps.inputs.lidClosed.active) controller.abort('lid opened');
      else await power.set(true).catch((err: Error) => controller.abort(err.message));
      outcome = await runPlan(
        plan,
        {
          devices: { ...this.deps.devices, dutPower: power },
          ledger,
          image,
          hooks: {
            stepStarted: (index, _count, step) => {
              Object.assign(progress, { index, step: step.name, fraction: 0 });
              delete progress.text;
              this.emit('progress', { ...progress });
            },
            progress: (p) => {
              progress.fraction = p.fraction; // the bar shows the running step; "STEP i/n" shows the plan
              if (p.text) progress.text = p.text;
              else delete progress.text;
              this.emit('progress', { ...progress });
            },
            stepEnded: (record) => this.emit('step', record),
            log: (m) => this.log(m),
          },
        },
        controller.signal,
      );
    } catch (err) {
      outcome = { result: 'ERROR', reason: 'STEP_EXCEPTION', message: (err as Error).message, steps: [] };
    } finally {
      power.end();
      await this.interlock.off();
      await this.deps.devices.console?.close().catch((err: Error) => this.log(`console close: ${err.message}`));
    }

    const ended = new Date();
    const identity = outcome.identity ?? ledger.identityGiven;
    const record: Omit<UnitRecord, 'seq' | 'prev'> = {
      id,
      station: this.deps.stationId,
      plan: planInfo,
      ...(imageInfo ? { image: imageInfo } : {}),
      ...(job.order ? { order: job.order } : {}),
      ...(identity ? { serial: identity.serial, mac: identity.mac } : {}),
      ...(ledger.uid ? { chipUid: ledger.uid } : {}),
      attempt: ledger.attempt,
      flashes: ledger.flashes,
      startedAt: started.toISOString(),
      endedAt: ended.toISOString(),
      durationMs: ended.getTime() - started.getTime(),
      result: outcome.result,
      ...(outcome.failedStep ? { failedStep: outcome.failedStep } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      ...(outcome.message ? { message: outcome.message } : {}),
      steps: outcome.steps,
    };

    let saved: UnitRecord;
    try {
      saved = await this.deps.books.journal.append(record);
    } catch (err) {
      // Nothing is announced as a result unless its record is on disk.
      this.log(`RECORD NOT SAVED: ${(err as Error).message}`);
      this.raise({ source: 'journal', title: 'RECORD NOT SAVED', lines: [(err as Error).message] });
      return;
    }
    try {
      await this.deps.books.commit(saved);
    } catch (err) {
      // The record is on disk: the next start commits it. Until then START is refused (ORDER CHECK FAILED).
      this.log(`ledger: unit #${saved.seq} not committed (${errorMessage(err)}); the journal has it`);
    }
    // Still the ledger on disk (not removed or replaced under the station)? Else the next START is refused.
    await this.deps.books.checkLedger();
    this.last = saved;
    this.emit('record', saved);
    const pending = [...this.faults.values()].at(-1);
    if (pending) return this.raise(pending); // a fault reported during the cycle
    this.fire(saved.result === 'PASS' ? 'cycle_pass' : saved.result === 'ABORTED' ? 'cycle_aborted' : saved.result === 'ERROR' ? 'cycle_error' : 'cycle_fail');
  }

  private log(message: string): void {
    this.emit('log', message);
  }
}
