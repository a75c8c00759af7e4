import type { DigitalOutput } from '../devices/gpio/gpio.js';
import type { UnitRecord } from '../core/record.js';
import type { StationEvents, StationFault, StationStatus, StartRefusal } from '../station/station.js';
import type { StationState } from '../station/machine.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { MessageScreen } from './messages.js';
import type { Screen } from './screens.js';

/** The tower light and buzzer; every part is optional (a fixture may have only a buzzer). */
export interface TowerLight {
  green?: DigitalOutput;
  red?: DigitalOutput;
  amber?: DigitalOutput;
  buzzer?: DigitalOutput;
}

/** What the panel needs of the station: its events and a status snapshot. */
export interface StationView {
  on<K extends keyof StationEvents & string>(event: K, listener: (...args: StationEvents[K]) => void): () => void;
  status(): StationStatus;
}

export interface OperatorPanelDeps {
  station: StationView;
  light: TowerLight;
  log: (message: string) => void;
  now?: () => number;
  /** The running screen is redrawn at most this often for progress (default 100 ms) and every second for its clock. */
  runningIntervalMs?: number;
}

export type OperatorPanelEvents = {
  screen: [screen: Screen];
  'listener-error': [event: string, error: unknown];
};

const RESULT_STATES: readonly StationState[] = ['pass', 'fail', 'unit_error', 'aborted'];

/**
 * What the operator sees and hears. Turns the station's events (and the USB stick's messages,
 * through `message()`) into OLED screens, the tower light and the buzzer. The station never
 * composes a screen: it says what happens; the panel decides how it looks.
 *
 * - READY, RUNNING (progress, at most every 100 ms, and its clock every second), the result of
 *   the last unit until the lid opens, a fault screen while the station is in error.
 * - START refused: CLOSE LID, "IMPORTING IMAGE", ORDER COMPLETE.
 * - A stick's message stays up, while no cycle runs, until the station changes state or the stick
 *   is pulled (`clearMessage()`).
 * - Light: amber while running, green + short beep on PASS, red + long beep on FAIL, red + amber
 *   on ABORTED, ERROR and station faults.
 */
export class OperatorPanel extends TypedEmitter<OperatorPanelEvents> {
  private current: Screen | undefined;
  private message: MessageScreen | undefined;
  private lastFault: StationFault | undefined;
  private printer: string | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private lastRunningDraw = 0;
  private offs: (() => void)[] = [];
  private readonly now: () => number;
  private readonly interval: number;

  constructor(private readonly deps: OperatorPanelDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.interval = deps.runningIntervalMs ?? 100;
  }

  /** The screen on the OLED now. */
  get screen(): Screen | undefined {
    return this.current;
  }

  /** Follow the station; draws the screen for its present state. */
  attach(): () => void {
    const { station } = this.deps;
    this.offs = [
      station.on('state', (from, to, event) => this.onState(from, to, event)),
      station.on('fault', (fault) => (this.lastFault = fault)),
      station.on('progress', () => this.drawRunning(false)),
      station.on('refused', (r) => this.onRefused(r)),
      station.on('scanned', () => {
        if (!this.message && station.status().state === 'ready') this.show(this.base());
      }),
      station.on('job', () => {
        if (!this.message && station.status().state !== 'running') this.show(this.base());
      }),
    ];
    const state = station.status().state;
    if (state !== 'idle') this.show(this.base());
    return () => this.detach();
  }

  detach(): void {
    for (const off of this.offs) off();
    this.offs = [];
    this.stopTicker();
  }

  /** A stick's message (import phases, sync progress, SAFE TO REMOVE); ignored while a cycle runs. */
  showMessage(screen: MessageScreen): void {
    if (this.deps.station.status().state === 'running') return;
    this.message = screen;
    this.show(screen);
  }

  /**
   * The label printer's problem ("PRINTER PAPER OUT"), or undefined when it prints again. It is
   * shown on a lit bar in the READY, CLOSE LID and PASS screens - where the hint or the cycle
   * time was - so the result and READY stay readable; a running cycle is not disturbed.
   */
  setPrinter(notice: string | undefined): void {
    if (notice === this.printer) return;
    this.printer = notice;
    const current = this.current;
    if (this.message || !current) return;
    if (current.kind === 'close-lid') {
      const { printer: _old, ...rest } = current;
      this.show({ ...rest, ...this.printerField() });
    } else if (current.kind === 'ready' || current.kind === 'pass') this.show(this.base());
  }

  /** The stick was pulled: its message goes, the station's own screen comes back. */
  clearMessage(): void {
    if (!this.message) return;
    this.message = undefined;
    if (this.deps.station.status().state !== 'running') this.show(this.base());
  }

  private onState(from: StationState, to: StationState, event: string): void {
    this.message = undefined;
    if (to !== 'running') this.stopTicker();
    switch (to) {
      case 'ready':
        if (from !== 'ready' || event === 'lid_close') this.show(this.base());
        if (from !== 'ready') void this.setLight({});
        return;
      case 'running':
        void this.setLight({ amber: true });
        this.lastRunningDraw = 0;
        this.drawRunning(true);
        this.ticker = setInterval(() => this.drawRunning(true), 1000);
        return;
      case 'error':
        this.show(this.base());
        void this.setLight({ red: true, amber: true });
        return;
      case 'pass':
        this.show(this.base());
        void this.setLight({ green: true }, 150);
        return;
      case 'aborted':
        this.show(this.base());
        void this.setLight({ red: true, amber: true });
        return;
      case 'unit_error':
        this.show(this.base());
        void this.setLight({ red: true, amber: true }, 600);
        return;
      case 'fail':
        this.show(this.base());
        void this.setLight({ red: true }, 600);
        return;
      case 'idle':
        return;
    }
  }

  private onRefused(r: StartRefusal): void {
    const status = this.deps.station.status();
    if (r.reason === 'lid-open') this.show({ kind: 'close-lid', product: status.job?.product ?? '', version: status.job?.version ?? '-', ...this.printerField() });
    else if (r.reason === 'busy') this.show({ kind: 'message', title: r.what, lines: ['START again when done'], icon: 'wait' });
    else if (r.reason === 'scan-required') this.show({ kind: 'message', title: 'SCAN BOARD', lines: ['scan the label on the board,', 'then press START'], icon: 'wait' });
    else if (r.reason === 'order-check-failed') this.show({ kind: 'fault', title: 'ORDER CHECK FAILED', lines: ['ledger cannot be used:', r.message] });
    else this.show({ kind: 'fault', title: 'ORDER COMPLETE', lines: [`${r.flashed} of ${r.quantity} units`, 'flashed for this order', 'load a new bundle'] });
  }

  /** The station's own screen for its present state. */
  private base(): Screen {
    const status = this.deps.station.status();
    const product = status.job?.product ?? '';
    const version = status.job?.version ?? '-';
    if (RESULT_STATES.includes(status.state) && status.last) {
      const result = resultScreen(status.last);
      return result.kind === 'pass' ? { ...result, ...this.printerField() } : result;
    }
    if (status.state === 'error') {
      const fault = this.lastFault ?? status.faults.at(-1);
      return { kind: 'fault', title: fault?.title ?? 'STATION FAULT', lines: fault?.lines ?? [] };
    }
    if (status.state === 'running') return this.runningScreen(status);
    const scan = status.scan;
    const note = !status.lidClosed ? { note: 'CLOSE LID, PRESS START' } : scan?.label ? { note: scan.label } : scan?.required ? { note: 'SCAN BOARD' } : {};
    return { kind: 'ready', product, version, pass: status.counts.pass, fail: status.counts.fail, ...(status.counts.error ? { error: status.counts.error } : {}), ...note, ...this.printerField() };
  }

  private printerField(): { printer?: string } {
    return this.printer ? { printer: this.printer } : {};
  }

  private runningScreen(status: StationStatus): Screen {
    const c = status.cycle;
    if (!c) return { kind: 'running', step: '', stepIndex: 0, stepCount: 0, progress: 0, elapsedMs: 0 };
    return {
      kind: 'running',
      step: c.step,
      stepIndex: c.index,
      stepCount: c.count,
      progress: c.fraction,
      elapsedMs: this.now() - c.startedAt.getTime(),
      ...(c.text ? { detail: c.text } : {}),
    };
  }

  private drawRunning(force: boolean): void {
    const status = this.deps.station.status();
    if (status.state !== 'running') return;
    const t = this.now();
    const screen = this.runningScreen(status);
    // a new step is always drawn at once; progress within a step at most every interval
    const newStep = this.current?.kind !== 'running' || this.current.stepIndex !== (screen as { stepIndex: number }).stepIndex;
    if (!force && !newStep && t - this.lastRunningDraw < this.interval) return;
    this.lastRunningDraw = t;
    this.show(screen);
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private show(screen: Screen): void {
    this.current = screen;
    this.emit('screen', screen);
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
      this.deps.log(`tower light: ${(err as Error).message}`);
    }
  }
}

/** The result screen of a unit: PASS with its serial, FAIL/ERROR with the step and reason, ABORTED with the step. */
export function resultScreen(record: UnitRecord): Screen {
  if (record.result === 'PASS') return { kind: 'pass', ...(record.serial ? { serial: record.serial } : {}), durationMs: record.durationMs };
  if (record.result === 'ABORTED') return { kind: 'aborted', ...(record.failedStep ? { step: record.failedStep } : {}) };
  // Boards the ledger recognises are named for what they are, not as an anonymous FAIL.
  if (record.reason === 'ALREADY_PASSED') return { kind: 'fail', error: true, title: 'PASSED', step: 'already passed, locked', reason: record.serial ?? 'ALREADY_PASSED', detail: 'not tested again' };
  if (record.reason === 'ALREADY_LOCKED') return { kind: 'fail', error: true, title: 'LOCKED', step: record.failedStep ?? 'program', reason: 'ALREADY_LOCKED', detail: 'not known here: not tested' };
  if (record.reason === 'QUARANTINE') return { kind: 'fail', title: 'QUARANTINE', step: `run ${record.attempt ?? '?'} of this board`, reason: record.serial ?? 'QUARANTINE', detail: 'over the retest limit' };
  const screen = { kind: 'fail' as const, step: record.failedStep ?? '?', reason: record.reason ?? record.result, ...(record.message ? { detail: record.message } : {}) };
  return record.result === 'ERROR' ? { ...screen, error: true } : screen;
}
