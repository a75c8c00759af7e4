import { randomUUID } from 'node:crypto';
import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import type { Screen } from '../devices/display/screens.js';
import type { Plan } from '../config/plan.js';
import type { ActiveImage } from '../media/image.js';
import type { Journal } from '../records/journal.js';
import type { StationState as StateStore } from '../records/state.js';
import type { StepRecord, UnitRecord, UnitResult } from '../records/record.js';
import type { Devices, IdentityProvider } from '../steps/step.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { StateMachine, type StationEvent, type StationState } from './machine.js';
import { runPlan } from './runner.js';

/** What the station runs: a plan, the image it flashes, and the order quantity that caps flashing. */
export interface Job {
  plan: Plan;
  image: ActiveImage | undefined;
  orderQuantity?: number;
}

export interface StationInputs {
  start: DigitalInput;
  abort: DigitalInput;
  lidClosed: DigitalInput;
}

export interface TowerLight {
  green?: DigitalOutput;
  red?: DigitalOutput;
  amber?: DigitalOutput;
  buzzer?: DigitalOutput;
}

export interface StationDeps {
  stationId: string;
  inputs: StationInputs;
  /** The DUT's supply relay; also in devices.dutPower. */
  devices: Devices;
  light: TowerLight;
  journal: Journal;
  state: StateStore;
  identity: IdentityProvider;
  /** The current job: loaded at start-up and on reload() (after a bundle import). */
  job: () => Promise<Job>;
  /** A reason START must wait (an image import in progress), or undefined. */
  canStart?: () => string | undefined;
}

export type StationEvents = {
  state: [from: StationState, to: StationState, event: StationEvent];
  screen: [screen: Screen];
  step: [record: StepRecord];
  record: [record: UnitRecord];
  log: [message: string];
  'listener-error': [event: string, error: unknown];
};

const RUNNING_SCREEN_INTERVAL_MS = 100;

/**
 * The operator cycle. The DUT relay is energised only while a cycle runs with the lid closed;
 * ABORT or the lid opening cancels the running step and drops the relay in the same tick. The
 * unit record is journaled (fsync) before any result is shown.
 */
export class Station extends TypedEmitter<StationEvents> {
  private readonly machine = new StateMachine((from, to, event) => this.onTransition(from, to, event));
  private cycle: { controller: AbortController; done: Promise<void> } | undefined;
  private unsubscribers: (() => void)[] = [];
  private lastScreen: Screen | undefined;
  private job: Job | undefined;
  private idleWaiters: (() => void)[] = [];
  private faultReason: Screen | undefined;
  /** The result on screen until the lid opens (redrawn after a transient media message). */
  private resultScreen: Screen | undefined;

  constructor(private readonly deps: StationDeps) {
    super();
  }

  get state(): StationState {
    return this.machine.state;
  }

  get screen(): Screen | undefined {
    return this.lastScreen;
  }

  /** Subscribe to the inputs and load the job; a failure leaves the station in `error` with a fault screen. */
  async start(): Promise<void> {
    const { inputs } = this.deps;
    this.unsubscribers = [
      inputs.lidClosed.onChange((closed) => (closed ? this.fire('lid_close') : this.onLidOpen())),
      inputs.abort.onChange((pressed) => pressed && this.onAbort('ABORT pressed')),
      inputs.start.onChange((pressed) => pressed && this.onStart()),
    ];
    await this.powerDut(false);
    await this.loadJob();
  }

  /** Stop the service: cancel any cycle, DUT off, lights off. */
  async stop(): Promise<void> {
    for (const off of this.unsubscribers) off();
    this.unsubscribers = [];
    this.cycle?.controller.abort('service stopping');
    await this.powerDut(false);
    await this.cycle?.done;
    await this.setLight({});
  }

  /** Resolves when no cycle is running (e.g. for an image import that must not happen mid-cycle). */
  waitUntilIdle(): Promise<void> {
    if (!this.cycle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get running(): boolean {
    return this.cycle !== undefined;
  }

  /** Re-read the job (after a bundle import); `show` redraws READY (false keeps a message on screen). */
  async reload(show = true): Promise<void> {
    if (this.state === 'running') return;
    await this.loadJob(show);
  }

  /** A station fault (a device missing): the fault screen, and no cycle until clearFault(). Never interrupts a running cycle. */
  reportFault(title: string, lines: string[]): void {
    if (this.state === 'running') return;
    this.faultReason = { kind: 'fault', title, lines };
    this.fire('fault');
  }

  /** The fault is gone: reload the job and go back to ready. */
  async clearFault(): Promise<void> {
    if (this.state === 'error') await this.loadJob();
  }

  /** Show a transient message (media events) while not running; READY comes back on the next change. */
  showMessage(screen: Extract<Screen, { kind: 'message' }>): void {
    if (this.state === 'running') return;
    this.show(screen);
  }

  private async loadJob(show = true): Promise<void> {
    try {
      this.job = await this.deps.job();
      if (this.state === 'error') this.fire('recover');
      else if (this.state === 'idle') this.fire('devices_ok');
      if (show && this.state === 'ready') this.show(this.readyScreen());
      else if (show && this.resultScreen && ['pass', 'fail', 'aborted'].includes(this.state)) this.show(this.resultScreen);
    } catch (err) {
      this.faultReason = { kind: 'fault', title: 'NO TEST PLAN', lines: wrap((err as Error).message) };
      this.fire('fault');
    }
  }

  private fire(event: StationEvent): void {
    const before = this.state;
    const after = this.machine.fire(event);
    if (after === undefined) this.log(`${event} ignored in state ${before}`);
    else if (after === before && event === 'lid_close') this.show(this.readyScreen());
  }

  private onTransition(from: StationState, to: StationState, event: StationEvent): void {
    this.emit('state', from, to, event);
    if (to === 'ready' && from !== 'ready') {
      this.show(this.readyScreen());
      void this.setLight({});
    }
    if (to === 'error') {
      // error -> error (a new fault) redraws too
      this.show(this.faultReason ?? { kind: 'fault', title: 'STATION FAULT', lines: [] });
      void this.setLight({ red: true, amber: true });
    }
  }

  private onStart(): void {
    if (this.state !== 'ready') return this.log(`START ignored in state ${this.state}`);
    if (!this.deps.inputs.lidClosed.active) {
      this.fire('start_lid_open');
      this.show({ kind: 'close-lid', product: this.job?.plan.product ?? '', version: this.job?.image?.version ?? '-' });
      return;
    }
    const job = this.job;
    if (!job) return;
    const wait = this.deps.canStart?.();
    if (wait) {
      this.show({ kind: 'message', title: wait, lines: ['START again when done'], icon: 'wait' });
      return;
    }
    const quota = job.orderQuantity;
    const flashed = job.image ? (this.deps.state.data.flashes[job.image.imageHash] ?? 0) : 0;
    if (quota !== undefined && flashed >= quota) {
      this.show({ kind: 'fault', title: 'ORDER COMPLETE', lines: [`${flashed} of ${quota} units`, 'flashed with this image', 'load a new bundle'] });
      return;
    }
    this.fire('start');
    const controller = new AbortController();
    const done = this.runCycle(job, controller).finally(() => {
      this.cycle = undefined;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
    this.cycle = { controller, done };
  }

  private onAbort(why: string): void {
    // Interlock first, in the same tick as the input edge: the relay drops whatever the step is doing.
    void this.powerDut(false);
    if (this.cycle && !this.cycle.controller.signal.aborted) {
      this.fire(why === 'lid opened' ? 'lid_open' : 'abort');
      this.cycle.controller.abort(why);
    }
  }

  private onLidOpen(): void {
    if (this.cycle) return this.onAbort('lid opened');
    void this.powerDut(false);
    this.fire('lid_open');
  }

  private async runCycle(job: Job, controller: AbortController): Promise<void> {
    const started = new Date();
    const { plan, image } = job;
    let stepName = plan.steps[0]?.name ?? '';
    let stepIndex = 0;
    let progress = 0;
    let detail: string | undefined;
    let lastDraw = 0;
    const draw = (force = false) => {
      const t = Date.now();
      if (!force && t - lastDraw < RUNNING_SCREEN_INTERVAL_MS) return;
      lastDraw = t;
      this.show({
        kind: 'running',
        step: stepName,
        stepIndex,
        stepCount: plan.steps.length + plan.teardown.length,
        progress,
        elapsedMs: t - started.getTime(),
        ...(detail ? { detail } : {}),
      });
    };
    const ticker = setInterval(() => draw(true), 1000);
    void this.setLight({ amber: true });
    draw(true);

    let outcome: Awaited<ReturnType<typeof runPlan>>;
    try {
      // Interlock: the relay goes on only now, and only if the lid is still closed.
      if (!this.deps.inputs.lidClosed.active) controller.abort('lid opened');
      else await this.powerDut(true);
      outcome = await runPlan(
        plan,
        {
          devices: this.deps.devices,
          identity: this.deps.identity,
          image,
          hooks: {
            stepStarted: (index, _count, step) => {
              stepIndex = index;
              stepName = step.name;
              progress = 0;
              detail = undefined;
              draw(true);
            },
            progress: (p) => {
              progress = p.fraction; // the bar shows the running step; "STEP i/n" shows the plan
              detail = p.text;
              draw();
            },
            stepEnded: (record) => this.emit('step', record),
            log: (m) => this.log(m),
          },
        },
        controller.signal,
      );
    } catch (err) {
      outcome = { result: 'FAIL', reason: 'STEP_EXCEPTION', message: (err as Error).message, steps: [], flashes: 0 };
    } finally {
      clearInterval(ticker);
      await this.powerDut(false);
      await this.deps.devices.console?.close().catch((err: Error) => this.log(`console close: ${err.message}`));
    }

    const ended = new Date();
    const record: Omit<UnitRecord, 'seq'> = {
      id: randomUUID(),
      station: this.deps.stationId,
      plan: { name: plan.name, product: plan.product },
      ...(image
        ? {
            image: {
              bundleId: image.bundleId,
              version: image.version,
              imageHash: image.imageHash,
              regions: Object.fromEntries(image.regions.map((r) => [r.name, r.sha256])),
            },
          }
        : {}),
      ...(outcome.identity ? { serial: outcome.identity.serial, mac: outcome.identity.mac } : {}),
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
      saved = await this.deps.journal.append(record);
    } catch (err) {
      // Nothing is shown as a result unless its record is on disk.
      this.faultReason = { kind: 'fault', title: 'RECORD NOT SAVED', lines: wrap((err as Error).message) };
      this.fire('fault');
      return;
    }
    await this.count(saved, image, outcome.flashes);
    this.emit('record', saved);
    this.showResult(saved);
  }

  private async count(record: UnitRecord, image: ActiveImage | undefined, flashes: number): Promise<void> {
    try {
      await this.deps.state.update((s) => {
        s.counts[record.result]++;
        if (!image) return;
        if (flashes) s.flashes[image.imageHash] = (s.flashes[image.imageHash] ?? 0) + flashes;
        const per = (s.perImage[image.imageHash] ??= { pass: 0, fail: 0 });
        if (record.result === 'PASS') per.pass++;
        else if (record.result === 'FAIL') per.fail++;
      });
    } catch (err) {
      this.log(`counters not saved (the journal has the record): ${(err as Error).message}`);
    }
  }

  private showResult(record: UnitRecord): void {
    this.resultScreen = resultScreenOf(record);
    this.show(this.resultScreen);
    const result: UnitResult = record.result;
    if (result === 'PASS') {
      this.fire('cycle_pass');
      void this.setLight({ green: true }, 150);
    } else if (result === 'ABORTED') {
      this.fire('cycle_aborted');
      void this.setLight({ red: true, amber: true });
    } else {
      this.fire('cycle_fail');
      void this.setLight({ red: true }, 600);
    }
  }

  private readyScreen(): Screen {
    const image = this.job?.image;
    const per = image ? this.deps.state.data.perImage[image.imageHash] : undefined;
    const counts = per ?? { pass: this.deps.state.data.counts.PASS, fail: this.deps.state.data.counts.FAIL };
    const product = this.job?.plan.product ?? '';
    const version = image?.version ?? '-';
    if (!this.deps.inputs.lidClosed.active && this.state === 'ready') return { kind: 'ready', product, version, pass: counts.pass, fail: counts.fail, note: 'CLOSE LID, PRESS START' };
    return { kind: 'ready', product, version, pass: counts.pass, fail: counts.fail };
  }

  private show(screen: Screen): void {
    this.lastScreen = screen;
    this.emit('screen', screen);
  }

  private async powerDut(on: boolean): Promise<void> {
    try {
      await this.deps.devices.dutPower.set(on && this.deps.inputs.lidClosed.active);
    } catch (err) {
      this.log(`DUT power relay: ${(err as Error).message}`);
    }
  }

  private async setLight(on: { green?: boolean; red?: boolean; amber?: boolean }, beepMs = 0): Promise<void> {
    const { green, red, amber, buzzer } = this.deps.light;
    try {
      await Promise.all([green?.set(!!on.green), red?.set(!!on.red), amber?.set(!!on.amber)]);
      if (beepMs && buzzer) {
        await buzzer.set(true);
        setTimeout(() => void buzzer.set(false).catch(() => {}), beepMs);
      }
    } catch (err) {
      this.log(`tower light: ${(err as Error).message}`);
    }
  }

  private log(message: string): void {
    this.emit('log', message);
  }
}

function resultScreenOf(record: UnitRecord): Screen {
  if (record.result === 'PASS') return { kind: 'pass', ...(record.serial ? { serial: record.serial } : {}), durationMs: record.durationMs };
  if (record.result === 'ABORTED') return { kind: 'aborted', ...(record.failedStep ? { step: record.failedStep } : {}) };
  return { kind: 'fail', step: record.failedStep ?? '?', reason: record.reason ?? 'FAIL', ...(record.message ? { detail: record.message } : {}) };
}

/** Split a message into short lines for the fault screen. */
function wrap(text: string, width = 21, maxLines = 4): string[] {
  const words = text.replace(/\s+/g, ' ').trim().split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if ((line + ' ' + word).trim().length > width && line) {
      lines.push(line);
      line = word;
    } else line = (line + ' ' + word).trim();
    if (lines.length === maxLines) break;
  }
  if (line && lines.length < maxLines) lines.push(line);
  return lines;
}
