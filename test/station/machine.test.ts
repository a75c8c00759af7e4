import { describe, it, expect } from 'vitest';
import { StateMachine, TRANSITIONS, next, type StationEvent, type StationState } from '../../src/station/machine.js';

const STATES: StationState[] = ['idle', 'ready', 'running', 'pass', 'fail', 'unit_error', 'aborted', 'error'];
const EVENTS: StationEvent[] = ['devices_ok', 'fault', 'recover', 'start', 'start_lid_open', 'abort', 'lid_open', 'lid_close', 'cycle_pass', 'cycle_fail', 'cycle_error', 'cycle_aborted'];

describe('the operator cycle transition table', () => {
  // The whole table, written out: any change to it must be deliberate.
  const expected: Record<StationState, Partial<Record<StationEvent, StationState>>> = {
    idle: { devices_ok: 'ready', fault: 'error' },
    ready: { start: 'running', start_lid_open: 'ready', lid_close: 'ready', fault: 'error' },
    running: { abort: 'running', lid_open: 'running', cycle_pass: 'pass', cycle_fail: 'fail', cycle_error: 'unit_error', cycle_aborted: 'aborted', fault: 'error' },
    pass: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
    fail: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
    unit_error: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
    aborted: { lid_open: 'ready', lid_close: 'ready', fault: 'error' },
    error: { recover: 'ready', fault: 'error' },
  };

  for (const state of STATES) {
    for (const event of EVENTS) {
      const to = expected[state][event];
      it(`${state} --${event}--> ${to ?? '(ignored)'}`, () => {
        expect(next(state, event)).toBe(to);
      });
    }
  }

  it('has no state the table forgets', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATES].sort());
  });

  it('START never runs a cycle from a result state: the lid must open first', () => {
    for (const state of ['pass', 'fail', 'unit_error', 'aborted'] as const) expect(next(state, 'start')).toBeUndefined();
  });

  it('reports transitions and ignores what the table does not allow', () => {
    const seen: string[] = [];
    const m = new StateMachine((from, to, event) => seen.push(`${from}-${event}->${to}`));
    expect(m.fire('start')).toBeUndefined();
    expect(m.fire('devices_ok')).toBe('ready');
    expect(m.fire('cycle_pass')).toBeUndefined();
    m.fire('start');
    m.fire('abort');
    m.fire('cycle_aborted');
    m.fire('lid_open');
    expect(seen).toEqual(['idle-devices_ok->ready', 'ready-start->running', 'running-abort->running', 'running-cycle_aborted->aborted', 'aborted-lid_open->ready']);
    expect(m.state).toBe('ready');
  });
});
