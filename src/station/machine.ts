/**
 * The operator cycle as one explicit transition table. The station feeds it events; the table
 * alone decides the next state. Anything not in the table is ignored (and reported), which is
 * how "START does nothing unless the lid is closed" and "the result stays until the lid opens"
 * are enforced.
 */
/** pass, fail, unit_error and aborted hold the last unit's result until the lid opens; error is a station fault. */
export type StationState = 'idle' | 'ready' | 'running' | 'pass' | 'fail' | 'unit_error' | 'aborted' | 'error';

export type StationEvent =
  | 'devices_ok' // start-up finished, devices answer
  | 'fault' // configuration error, device missing, record not saved
  | 'recover' // the fault is gone
  | 'start' // START pressed with the lid closed (the station checks the lid)
  | 'start_lid_open' // START pressed with the lid open
  | 'abort' // ABORT pressed
  | 'lid_open'
  | 'lid_close'
  | 'cycle_pass'
  | 'cycle_fail'
  | 'cycle_error' // the jig could not judge the unit (result ERROR)
  | 'cycle_aborted';

type Table = Record<StationState, Partial<Record<StationEvent, StationState>>>;

export const TRANSITIONS: Table = {
  idle: { devices_ok: 'ready', fault: 'error' },
  ready: { start: 'running', start_lid_open: 'ready', lid_close: 'ready', fault: 'error' },
  // abort and lid_open cancel the running step (the station powers the DUT off at once); the
  // state changes when the runner has settled and the record is written: cycle_aborted.
  running: { abort: 'running', lid_open: 'running', cycle_pass: 'pass', cycle_fail: 'fail', cycle_error: 'unit_error', cycle_aborted: 'aborted', fault: 'error' },
  // The result stays until the lid opens. When the lid was already open (it caused the abort),
  // closing it on the next unit is the sign the result was seen.
  pass: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
  fail: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
  unit_error: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
  aborted: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
  error: { recover: 'ready', fault: 'error' },
};

export function next(state: StationState, event: StationEvent): StationState | undefined {
  return TRANSITIONS[state][event];
}

export class StateMachine {
  private current: StationState = 'idle';

  constructor(private readonly onTransition: (from: StationState, to: StationState, event: StationEvent) => void) {}

  get state(): StationState {
    return this.current;
  }

  /** Apply an event; returns the new state, or undefined when the table ignores it. */
  fire(event: StationEvent): StationState | undefined {
    const to = next(this.current, event);
    if (to === undefined) return undefined;
    const from = this.current;
    this.current = to;
    this.onTransition(from, to, event);
    return to;
  }
}
