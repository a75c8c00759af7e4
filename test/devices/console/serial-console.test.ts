import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConsoleError } from '../../../src/devices/console/dut-console.js';
import { SerialConsole } from '../../../src/devices/console/serial-console.js';
import { DEMO, UNIT, consoleRig, simFlash } from '../../helpers/functional-context.js';

const never = new AbortController().signal;
let rig: Awaited<ReturnType<typeof consoleRig>> | undefined;

afterEach(async () => {
  vi.useRealTimers();
  await rig?.close();
  rig = undefined;
});

describe('SerialConsole on a real pty with the simulated firmware', () => {
  it('reads the banner and answers commands, named groups included', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO, identity: UNIT }));
    await rig.console.open();
    rig.firmware.powerOn();
    const banner = await rig.console.expect(/^PIJIG-SIM (?<product>\S+) fw=(?<fw>\S+)$/, 5000, never);
    expect(banner.groups).toEqual({ product: 'demo', fw: '1.2.0' });
    await rig.console.send('id');
    const id = await rig.console.expect(/sn=(?<sn>\S+) mac=(?<mac>\S+)/, 5000, never);
    expect(id.groups).toEqual({ sn: 'PJ0000042', mac: '02:00:00:00:00:2a' });
  });

  it('keeps a timestamped transcript of both directions', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.boot();
    await rig.console.send('version');
    await rig.console.expect(/^fw=/, 5000, never);
    const transcript = rig.console.transcript();
    expect(transcript.map(({ dir, text }) => `${dir} ${text}`)).toEqual(['rx PIJIG-SIM demo fw=1.2.0', 'tx version', 'rx fw=1.2.0']);
    expect(transcript.every((line, i) => line.t >= 0 && (i === 0 || line.t >= transcript[i - 1]!.t))).toBe(true);
  });

  it('matches lines that arrived before expect was called, and drops them on flush', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.console.open();
    rig.firmware.powerOn();
    await rig.console.send('help'); // not booted yet: ignored by the firmware
    await rig.console.expect(/^PIJIG-SIM/, 5000, never);
    await rig.console.send('temp');
    await rig.console.send('version');
    await rig.console.expect(/^fw=/, 5000, never); // temp's answer is consumed on the way
    await rig.console.send('temp');
    await rig.console.expect(/^temp=/, 5000, never);
    rig.firmware.receive(Buffer.from('version\n')); // answer arrives while nobody waits
    await vi.waitFor(() => expect(rig!.console.transcript().at(-1)!.text).toBe('fw=1.2.0'));
    rig.console.flush();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const stale = rig.console.expect(/^fw=/, 500, never).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(500);
    expect(await stale).toMatchObject({ code: 'TIMEOUT' });
  });

  it('times out on a console that never answers, naming the port and the last lines', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.boot();
    rig.firmware.inject({ consoleMute: true });
    await rig.console.send('version');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pending = rig.console.expect(/^fw=/, 2000, never).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1999);
    await vi.advanceTimersByTimeAsync(1);
    const error = await pending;
    expect(error).toBeInstanceOf(ConsoleError);
    expect(error).toMatchObject({ code: 'TIMEOUT', path: rig.pair.stationPath });
    expect((error as Error).message).toBe(
      `${rig.pair.stationPath}: no line matching /^fw=/ within 2000 ms (last received: "PIJIG-SIM demo fw=1.2.0")`,
    );
  });

  it('stops waiting when the signal aborts', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.boot();
    const controller = new AbortController();
    const pending = rig.console.expect(/never/, 60_000, controller.signal).catch((e: unknown) => e);
    controller.abort(new Error('ABORT pressed'));
    expect(await pending).toMatchObject({ code: 'ABORTED', cause: { message: 'ABORT pressed' } });
  });

  it('allows one expect at a time', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.boot();
    const first = rig.console.expect(/^fw=/, 5000, never);
    await expect(rig.console.expect(/x/, 10, never)).rejects.toMatchObject({ code: 'BUSY' });
    await rig.console.send('version');
    await expect(first).resolves.toBeTruthy();
  });

  it('rejects a pending expect when closed', async () => {
    rig = await consoleRig(simFlash({ firmware: DEMO }));
    await rig.boot();
    const pending = rig.console.expect(/never/, 60_000, never).catch((e: unknown) => e);
    await rig.console.close();
    expect(await pending).toMatchObject({ code: 'CLOSED' });
    expect(rig.console.isOpen).toBe(false);
  });
});

describe('SerialConsole errors', () => {
  it('names the port when it cannot be opened', async () => {
    const console = new SerialConsole({ path: '/dev/does-not-exist' });
    const error = await console.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsoleError);
    expect(error).toMatchObject({ code: 'OPEN_FAILED', path: '/dev/does-not-exist', message: expect.stringMatching(/^\/dev\/does-not-exist: cannot open/) });
  });

  it('refuses to send or expect before open', async () => {
    const console = new SerialConsole({ path: '/dev/ttyX' });
    await expect(console.send('version')).rejects.toMatchObject({ code: 'NOT_OPEN', message: '/dev/ttyX: console is not open' });
    await expect(console.expect(/x/, 10, never)).rejects.toMatchObject({ code: 'NOT_OPEN' });
    await console.close(); // harmless
  });
});
