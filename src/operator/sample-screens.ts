import type { Screen } from './screens.js';

/** One example of each screen: the README's gallery (scripts/render-screens.ts) and the render tests. */
export const SAMPLE_SCREENS: Record<string, Screen> = {
  ready: { kind: 'ready', product: 'widget', version: '1.4.2', pass: 128, fail: 3 },
  'close-lid': { kind: 'close-lid', product: 'widget', version: '1.4.2' },
  running: { kind: 'running', step: 'program', stepIndex: 0, stepCount: 9, progress: 0.62, elapsedMs: 83_000, detail: 'writing 41/64 KiB' },
  pass: { kind: 'pass', serial: 'WG001742', durationMs: 42_300 },
  fail: { kind: 'fail', step: 'boot current', reason: 'LIMIT_HIGH', detail: 'run_mean_ma = 150.03 mA > max 50 mA' },
  aborted: { kind: 'aborted', step: 'program' },
  quarantine: { kind: 'fail', title: 'QUARANTINE', step: 'run 4 of this board', reason: 'WG001743', detail: 'over the retest limit' },
  'already-passed': { kind: 'fail', error: true, title: 'PASSED', step: 'already passed, locked', reason: 'WG001742', detail: 'not tested again' },
  'fault-journal': { kind: 'fault', title: 'JOURNAL DAMAGED', lines: ['record #1742', 'copy kept; engineer:', 'pijig journal repair'] },
  fault: { kind: 'fault', title: 'DEVICE MISSING', lines: ['ina219 i2c-1 0x40'] },
  'fault-config': { kind: 'fault', title: 'CONFIG ERROR', lines: ['station.yaml:12', 'gpio.inputs.start.line', 'unknown pin: BCM GPIO lines on the header are 2..27'] },
  'message-new-image': { kind: 'message', icon: 'ok', title: 'NEW IMAGE 1.4.2 READY', lines: ['signature OK', 'used from next unit'] },
  'ready-printer': { kind: 'ready', product: 'widget', version: '1.4.2', pass: 128, fail: 3, printer: 'PRINTER PAPER OUT' },
  'pass-printer': { kind: 'pass', serial: 'WG001742', durationMs: 42_300, printer: 'PRINTER OFFLINE' },
  'message-safe-to-remove': { kind: 'message', icon: 'usb', title: 'SAFE TO REMOVE', lines: ['logs copied: 131 units'] },
};
