import { randomUUID } from 'node:crypto';
import { errorMessage, PijigError } from '../core/errors.js';
import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import type { ActiveImage } from '../core/image.js';
import type { IdentityBlock } from '../core/blocks.js';
import type { StepRecord, UnitRecord } from '../core/record.js';
import type { Journal } from '../records/journal.js';
import type { Books } from '../records/books.js';
import type { StepPlan } from '../steps/registry.js';
import type { Devices } from '../steps/step.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { Interlock } from './interlock.js';
import { StateMachine, type StationEvent, type StationState } from './machine.js';
import { runPlan, type CycleOutcome } from './runner.js';
import { CycleLedger } from './cycle-ledger.js';

export type StationErrorCode = 'BUSY' | 'NOT_IDLE' | 'NO_JOB' | 'LID_OPEN' | 'UNKNOWN_STEP' | 'BAD_PARAMS' | 'ORDER_COMPLETE' | 'NO_ENGINEERING_JOURNAL' | 'RECORD_NOT_SAVED';

/** Why the station refused (or could not finish) what an engineer asked of it. */
export class StationError extends PijigError<StationErrorCode> {}

/** One plan step run on its own (`pijig run-step NAME --param k=v`). */
export interface EngineeringRequest {
  /** A step name of the plan, or a step kind (its first step of that kind). */
  step: string;
  /** Over the plan's own params, then validated by the step kind's schema. */
  params?: Record<string, unknown>;
  /** Let an identity step allocate a serial number and MAC (default: refused). */
  allocateIdentity?: boolean;
}

export interface EngineeringHooks {
  progress?(progress: CycleProgress): void;
  step?(record: StepRecord): void;
}

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
  /** Whether the clock is synchronised now (undefined: unknown); every record says so. */
  clockSynced?: () => boolean | undefined;
  /** Where engineering runs (`pijig run-step`) are recorded, apart from the units. */
  engineeringJournal?: Journal;
}

/** Why START did not start a cycle. */
export type StartRefusal =
  | { reason: 'lid-open' }
  | { reason: 'busy'; what: string }
  | { reason: 'order-complete'; flashed: number; quantity: number }
  /** The plan requires the board's label to be scanned first. */
  | { reason: 'scan-required' }
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
  /** The board label scanned for the next unit, and whether the plan requires one. */
  scan: { required: boolean; label?: string };
  /** An engineering run (`pijig run-step`) in progress. */
  engineering?: { step: string; startedAt: string };
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
  /** A board label was scanned (accepted for the next unit). */
  scanned: [label: string];
  /** An engineering run started or ended (its record, when it was journaled). */
  engineering: [phase: 'started' | 'ended', step: string, record?: UnitRecord];
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
  private label: string | undefined;
  private readonly loggedFaults = new Map<string, string>();
  private engineering: { controller: AbortController; step: string; startedAt: Date } | undefined;

  constructor(private readonly deps: StationDeps) {
    super();
    this.interlock = new Interlock(deps.dutRelay, deps.inputs.lidClosed, (m) => this.log(m));
  }

  get state(): StationState {
    return this.machine.state;
  }

  /** A cycle or an engineering run is in progress (the DUT may be powered). */
  get running(): boolean {
    return this.cycle !== undefined || this.engineering !== undefined;
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
    this.engineering?.controller.abort('service stopping');
    await this.interlock.off();
    await this.cycle?.done;
    await this.waitUntilIdle();
  }

  /** Resolves when no cycle is running (e.g. for an image import that must not happen mid-cycle). */
  waitUntilIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
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
    this.loggedFaults.delete(source);
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
      scan: { required: this.job?.plan.requireScan ?? false, ...(this.label ? { label: this.label } : {}) },
      ...(this.engineering ? { engineering: { step: this.engineering.step, startedAt: this.engineering.startedAt.toISOString() } } : {}),
    };
  }

  /** A board label from the scanner: it goes into the next unit's record. Ignored while a cycle runs. */
  scan(label: string): void {
    if (this.cycle) return this.log(`scan "${label}" ignored: a cycle is running`);
    this.label = label;
    this.emit('scanned', label);
  }

  /** Derived from the ledger (which the journal reconciles at open): they never drift from the records. */
  private counts(): Counts {
    const c = this.deps.books.counts(this.job?.image?.imageHash);
    return { pass: c.PASS, fail: c.FAIL, error: c.ERROR };
  }

  /** Enter error with this fault (error -> error for a new one). */
  private raise(fault: StationFault): void {
    // Every fault reaches the log with its cause, not only the OLED (once per change).
    const text = `station fault ${fault.title}${fault.lines.length ? `: ${fault.lines.join('; ')}` : ''} (${fault.source})`;
    if (this.loggedFaults.get(fault.source) !== text) this.log(text);
    this.loggedFaults.set(fault.source, text);
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
    if (this.engineering) return this.emit('refused', { reason: 'busy', what: 'ENGINEERING RUN' });
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
    const quantity = job.orderQuantity;
    const flashed = job.image ? this.deps.books.orderUnits(job.order, job.image.imageHash) : 0;
    if (quantity !== undefined && flashed >= quantity) return this.emit('refused', { reason: 'order-complete', flashed, quantity });
    if (job.plan.requireScan && !this.label) return this.emit('refused', { reason: 'scan-required' });
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
    this.engineering?.controller.abort(why);
    if (this.cycle && !this.cycle.controller.signal.aborted) {
      this.fire(why === 'lid opened' ? 'lid_open' : 'abort');
      this.cycle.controller.abort(why);
    }
  }

  private onLidOpen(): void {
    this.label = undefined; // a new board goes in: its label is scanned again
    if (this.cycle) return this.onAbort('lid opened');
    this.engineering?.controller.abort('lid opened');
    void this.interlock.off();
    this.fire('lid_open');
  }

  /** The cycle's header in the ledger and its record: plan (with its measurement columns), image, order. */
  private cycleFacts(job: Job, plan: StepPlan) {
    const measurements = [...plan.steps, ...plan.teardown].flatMap((s) => Object.keys(s.limits));
    const image = job.image;
    return {
      plan: { name: plan.name, product: plan.product, ...(measurements.length ? { measurements } : {}) },
      ...(image ? { image: { bundleId: image.bundleId, version: image.version, imageHash: image.imageHash, regions: Object.fromEntries(image.regions.map((r) => [r.name, r.sha256])) } } : {}),
      ...(job.order ? { order: job.order } : {}),
    };
  }

  private cycleLedger(job: Job, id: string, startedAt: Date, facts: ReturnType<Station['cycleFacts']>, opts: { engineering?: boolean; allowNewIdentity?: boolean } = {}): CycleLedger {
    return new CycleLedger(this.deps.books, {
      header: { cycle: id, startedAt: startedAt.toISOString(), ...facts, ...(opts.engineering ? { engineering: true } : {}) },
      block: job.block,
      blockSource: job.blockSource,
      orderQuantity: job.orderQuantity,
      order: job.order,
      maxAttempts: opts.engineering ? undefined : job.plan.retest?.max_attempts,
      allowNewIdentity: opts.allowNewIdentity ?? true,
    });
  }

  private async runCycle(job: Job, controller: AbortController, progress: CycleProgress): Promise<void> {
    const { plan, image } = job;
    const started = progress.startedAt;
    const id = randomUUID();
    const facts = this.cycleFacts(job, plan);
    const ledger = this.cycleLedger(job, id, started, facts);
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
    const label = this.label;
    this.label = undefined;
    const clockSynced = this.deps.clockSynced?.();
    const identity = outcome.identity ?? ledger.identityGiven;
    const record: Omit<UnitRecord, 'seq' | 'prev'> = {
      id,
      station: this.deps.stationId,
      ...facts,
      ...runFields(identity, ledger, started, ended, outcome),
      ...(label ? { label } : {}),
      ...(clockSynced !== undefined ? { clockSynced } : {}),
    };

    let saved: UnitRecord;
    try {
      saved = await this.deps.books.journal.append(record);
    } catch (err) {
      // Nothing is announced as a result unless its record is on disk (raise() logs the cause).
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

  // --- engineering runs (`pijig run-step`) -----------------------------------------------------

  /** Stop the engineering run in progress (its client went away): DUT off, the step cancelled. */
  abortEngineering(why: string): void {
    if (!this.engineering) return;
    void this.interlock.off();
    this.engineering.controller.abort(why);
  }

  /**
   * Run one step of the job's plan on the DUT in the fixture, as an engineering run: only while
   * no cycle runs, no fault is up and the lid is closed; through the same interlock and runner as
   * a unit (ABORT and the lid stop it). Its record goes to the engineering journal, never the unit
   * journal: it is no unit, counts nowhere, and allocates no identity unless `allocateIdentity`.
   * Rejects with a StationError when it may not run.
   */
  async runEngineering(request: EngineeringRequest, hooks: EngineeringHooks = {}): Promise<UnitRecord> {
    const job = this.job;
    const refuse = (code: StationErrorCode, message: string): never => {
      throw new StationError(code, `run-step ${request.step}: ${message}`);
    };
    if (!this.deps.engineeringJournal) refuse('NO_ENGINEERING_JOURNAL', 'this station keeps no engineering journal');
    if (this.running) refuse('BUSY', this.cycle ? 'a unit cycle is running' : 'another engineering run is in progress');
    if (this.state === 'error' || this.state === 'idle') refuse('NOT_IDLE', `the station is in ${this.state}${this.faults.size ? ` (${[...this.faults.values()].map((f) => f.title).join(', ')})` : ''}`);
    if (!job) return refuse('NO_JOB', 'no test plan is loaded');
    if (!this.deps.inputs.lidClosed.active) refuse('LID_OPEN', 'the lid is open: close it over the unit first');
    const planStep = job.plan.steps.find((st) => st.name === request.step) ?? job.plan.teardown.find((st) => st.name === request.step) ?? [...job.plan.steps, ...job.plan.teardown].find((st) => st.kind === request.step);
    if (!planStep) return refuse('UNKNOWN_STEP', `the plan "${job.plan.name}" has no step or step kind of that name (steps: ${[...job.plan.steps, ...job.plan.teardown].map((st) => st.name).join(', ')})`);
    const parsed = planStep.step.params.safeParse({ ...(planStep.params as Record<string, unknown>), ...(request.params ?? {}) });
    if (!parsed.success) refuse('BAD_PARAMS', parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; '));
    const problem = this.deps.books.problemNow();
    if (problem) refuse('NOT_IDLE', `ORDER CHECK FAILED: ${problem}`);
    const quantity = job.orderQuantity;
    const flashed = job.image ? this.deps.books.orderUnits(job.order, job.image.imageHash) : 0;
    if (planStep.kind === 'program' && quantity !== undefined && flashed >= quantity) refuse('ORDER_COMPLETE', `${flashed} of ${quantity} boards are flashed for this order`);

    const controller = new AbortController();
    const startedAt = new Date();
    this.engineering = { controller, step: planStep.name, startedAt };
    this.emit('engineering', 'started', planStep.name);
    const plan = { ...job.plan, name: `engineering: ${planStep.name}`, steps: [{ ...planStep, params: parsed.data }], teardown: [] };
    // Not a unit, but what it flashes and numbers is in the ledger all the same (a number only with --allocate-identity).
    const id = randomUUID();
    const facts = this.cycleFacts(job, plan);
    const ledger = this.cycleLedger(job, id, startedAt, facts, { engineering: true, allowNewIdentity: request.allocateIdentity === true });
    const power = this.interlock.forCycle(controller.signal);
    let outcome: CycleOutcome;
    try {
      if (!this.deps.inputs.lidClosed.active) controller.abort('lid opened');
      else await power.set(true).catch((err: Error) => controller.abort(err.message));
      const progress: CycleProgress = { index: 0, count: 1, step: planStep.name, fraction: 0, startedAt };
      outcome = await runPlan(
        plan,
        {
          devices: { ...this.deps.devices, dutPower: power },
          ledger,
          image: job.image,
          hooks: {
            stepStarted: () => hooks.progress?.({ ...progress }),
            progress: (p) => {
              progress.fraction = p.fraction;
              if (p.text) progress.text = p.text;
              hooks.progress?.({ ...progress });
            },
            stepEnded: (r) => hooks.step?.(r),
            log: (m) => this.log(`engineering: ${m}`),
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
    const clockSynced = this.deps.clockSynced?.();
    const identity = outcome.identity ?? ledger.identityGiven;
    const record = {
      id,
      station: this.deps.stationId,
      plan: { name: job.plan.name, product: job.plan.product },
      ...(facts.image ? { image: facts.image } : {}),
      ...runFields(identity, ledger, startedAt, ended, outcome),
      ...(clockSynced !== undefined ? { clockSynced } : {}),
      engineering: { step: planStep.name, kind: planStep.kind, params: parsed.data, flashes: ledger.flashes },
    };
    // The run ends in the ledger too: its number bound to the chip, or wasted (it is no unit).
    await ledger.close(record).catch((err: unknown) => this.log(`ledger: engineering run of ${planStep.name} not closed (${errorMessage(err)}); the next start does it`));
    try {
      const saved = await this.deps.engineeringJournal!.append(record);
      this.emit('engineering', 'ended', planStep.name, saved);
      return saved;
    } catch (err) {
      this.emit('engineering', 'ended', planStep.name);
      this.log(`engineering run of ${planStep.name} not recorded: ${(err as Error).message}`);
      throw new StationError('RECORD_NOT_SAVED', `run-step ${planStep.name}: its record could not be saved: ${(err as Error).message}`, { cause: err });
    } finally {
      this.engineering = undefined;
      if (!this.cycle) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private log(message: string): void {
    this.emit('log', message);
  }
}

/** What a unit record and an engineering run's record share: the board, its chip, its flashes and the outcome. */
function runFields(identity: { serial: string; mac: string } | undefined, ledger: CycleLedger, started: Date, ended: Date, outcome: CycleOutcome) {
  return {
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
}
