import { afterEach, describe, expect, it, vi } from 'vitest';
import { SerialConsole } from '../../src/devices/console/serial-console.js';
import { consoleStep } from '../../src/steps/console.js';
import { StepError } from '../../src/steps/errors.js';
import type { StepOutput } from '../../src/steps/step.js';
import { planRegex, REGEX_BUDGET_MS } from '../../src/steps/plan-regex.js';
import { DEMO, UNIT, consoleRig, functionalContext, measurement, simFlash } from '../helpers/functional-context.js';

let rig: Awaited<ReturnType<typeof consoleRig>> | undefined;

afterEach(async () => {
  vi.useRealTimers();
  await rig?.close();
  rig = undefined;
});

async function booted(flash = simFlash({ firmware: DEMO, identity: UNIT })) {
  rig = await consoleRig(flash);
  await rig.boot();
  return rig;
}

/** Real I/O (send, drain) happens before the step arms its fake timeout: wait for it on the real event loop. */
async function untilTimeoutArmed(): Promise<void> {
  while (vi.getTimerCount() === 0) await new Promise((resolve) => setImmediate(resolve));
}

function run(params: unknown, options: Parameters<typeof functionalContext>[2] = {}): Promise<StepOutput> {
  const { ctx } = functionalContext(consoleStep, params, { devices: { console: rig?.console }, ...options });
  return consoleStep.run(ctx);
}

describe('console step (real serialport on a socat pty, simulated firmware)', () => {
  it('reads the firmware version as a measurement, with the transcript in data', async () => {
    await booted();
    const out = await run({ send: 'version', expect: '^fw=(?<fw>\\S+)$' });
    expect(out.measurements).toEqual([{ name: 'fw', value: '1.2.0' }]); // the runner compares it to ${image.version}
    expect(out.data).toMatchObject({
      line: 'fw=1.2.0',
      transcript: [
        { dir: 'tx', text: 'version' },
        { dir: 'rx', text: 'fw=1.2.0' },
      ],
    });
  });

  it('measures a firmware version that differs from the image (the runner fails it: LIMIT_MISMATCH)', async () => {
    await booted();
    rig!.firmware.inject({ reportedVersion: '1.1.9' });
    const out = await run({ send: 'version', expect: '^fw=(?<fw>\\S+)$' }, { image: { version: '1.2.0' } });
    expect(measurement(out, 'fw')).toBe('1.1.9');
  });

  it('reads the identity back; a serial that differs is a measured value for the runner', async () => {
    await booted();
    const params = { send: 'id', expect: '^sn=(?<sn>\\S+) mac=(?<mac>\\S+)$' };
    const good = await run(params);
    expect(good.measurements).toEqual([
      { name: 'sn', value: 'PJ0000042' },
      { name: 'mac', value: '02:00:00:00:00:2a' },
    ]);
    rig!.firmware.inject({ reportedSerial: 'PJ0000043' });
    expect(measurement(await run(params), 'sn')).toBe('PJ0000043');
  });

  it('turns numeric-looking groups into numbers, except leading-zero ones and `strings`', async () => {
    await booted(simFlash({ firmware: DEMO, identity: { serial: '0042', mac: '02:00:00:00:00:2a' } }));
    expect(await run({ send: 'temp', expect: 'temp=(?<temp_c>[-\\d.]+)' })).toMatchObject({ measurements: [{ name: 'temp_c', value: 27.5 }] });
    expect(measurement(await run({ send: 'id', expect: 'sn=(?<sn>\\S+)' }), 'sn')).toBe('0042');
    rig!.firmware.inject({ reportedSerial: '42' });
    expect(measurement(await run({ send: 'id', expect: 'sn=(?<sn>\\S+)' }), 'sn')).toBe(42);
    expect(measurement(await run({ send: 'id', expect: 'sn=(?<sn>\\S+)', strings: ['sn'] }), 'sn')).toBe('42');
  });

  it('sends without waiting when `expect` is omitted', async () => {
    await booted();
    const out = await run({ send: 'led status off' });
    expect(out.measurements).toBeUndefined();
    expect(out.data).toEqual({ transcript: [expect.objectContaining({ dir: 'tx', text: 'led status off' })] });
    await vi.waitFor(() => expect(rig!.firmware.ledState('status').mode).toBe('off'));
  });

  it('waits for an unsolicited line (the boot banner) when only `expect` is given', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.console.open();
    rig.firmware.powerOn();
    const out = await run({ expect: '^PIJIG-SIM (?<product>\\S+) fw=(?<fw>\\S+)', timeout_ms: 5000 });
    expect(out.measurements).toEqual([
      { name: 'product', value: 'demo' },
      { name: 'fw', value: '1.2.0' },
    ]);
  });

  it('fails CONSOLE_TIMEOUT for a console that never answers, keeping the transcript', async () => {
    await booted();
    rig!.firmware.inject({ consoleMute: true });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const result = run({ send: 'version', expect: '^fw=(?<fw>\\S+)$', timeout_ms: 1500 }).catch((e: unknown) => e);
    await untilTimeoutArmed();
    await vi.advanceTimersByTimeAsync(1500);
    const error = await result;
    expect(error).toBeInstanceOf(StepError);
    expect(error).toMatchObject({
      code: 'CONSOLE_TIMEOUT',
      details: { port: rig!.pair.stationPath, sent: 'version', transcript: [expect.objectContaining({ dir: 'tx', text: 'version' })] },
    });
    expect((error as Error).message).toMatch(/^"version": .*station: no line matching \/\^fw=\(\?<fw>\\S\+\)\$\/ within 1500 ms/);
  });

  it('fails CONSOLE_TIMEOUT on blank flash (nothing boots, nothing answers)', async () => {
    rig = await consoleRig(simFlash());
    await rig.console.open();
    rig.firmware.powerOn();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const result = run({ send: 'version', expect: '^fw=', timeout_ms: 2000 }).catch((e: unknown) => e);
    await untilTimeoutArmed();
    await vi.advanceTimersByTimeAsync(2000);
    expect(await result).toMatchObject({ code: 'CONSOLE_TIMEOUT' });
  });

  it('fails CONSOLE_ERROR when the port cannot be opened, and DEVICE_MISSING without a console', async () => {
    const { ctx } = functionalContext(consoleStep, { send: 'version' }, { devices: { console: new SerialConsole({ path: '/dev/no-such-tty' }) } });
    await expect(consoleStep.run(ctx)).rejects.toMatchObject({ code: 'CONSOLE_ERROR', message: expect.stringMatching(/^\/dev\/no-such-tty: cannot open/) });
    await expect(run({ send: 'version' })).rejects.toMatchObject({ code: 'DEVICE_MISSING' });
  });

  it('rethrows the abort reason when the signal fires', async () => {
    await booted();
    rig!.firmware.inject({ consoleMute: true });
    const controller = new AbortController();
    const result = run({ send: 'version', expect: '^fw=', timeout_ms: 60_000 }, { signal: controller.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(rig!.console.transcript().at(-1)?.text).toBe('version'));
    controller.abort(new Error('lid opened'));
    expect(await result).toMatchObject({ message: 'lid opened' });
  });

  it('validates its params at plan load', () => {
    expect(() => consoleStep.params.parse({})).toThrow(/send.*expect/);
    expect(() => consoleStep.params.parse({ expect: '(' })).toThrow(/regular expression/);
    expect(() => consoleStep.params.parse({ send: 'x', flags: 'g' })).toThrow();
    expect(consoleStep.params.parse({ send: 'version', expect: 'fw=' })).toEqual({
      send: 'version',
      expect: 'fw=',
      flags: '',
      timeout_ms: 2000,
      flush: true,
      strings: [],
    });
  });

  it('a regex too slow for the console line fails the step REGEX_TIMEOUT (it ran off the event loop)', async () => {
    await booted();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pending = run({ send: `${'a'.repeat(40)}!`, expect: '(a+)+$', timeout_ms: 60_000 }).then(() => undefined, (e: unknown) => e);
    while (!planRegex.running) {
      await vi.advanceTimersByTimeAsync(1); // the firmware's reply delay
      await new Promise((resolve) => setImmediate(resolve));
    }
    await vi.advanceTimersByTimeAsync(REGEX_BUDGET_MS);
    const error = (await pending) as StepError;
    expect(error).toBeInstanceOf(StepError);
    expect(error.code).toBe('REGEX_TIMEOUT');
    expect(error.message).toMatch(/^expect \/\(a\+\)\+\$\/ took longer than 1000 ms on a line of 62 characters/);
    expect(error.details).toMatchObject({ expect: '(a+)+$', transcript: [{ dir: 'tx' }, { dir: 'rx', text: `err unknown command: ${'a'.repeat(40)}!` }] });
  });
});
