import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig, SIM_FAULTS, type SimFault } from '../../src/sim/jig.js';
import { startApp } from '../../src/app.js';
import { insertStick, pullStick } from '../../src/media/stick.sim.js';
import { oneCycle } from '../../src/sim/run.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));

/** Every fault `pijig sim --fault` offers gives a FAIL of its own kind, at the step that should catch it. */
const EXPECTED: Record<SimFault, [step: string, reason: string, message: RegExp]> = {
  'stuck-bit': ['program', 'VERIFY_FAILED', /0x08000100 \(read 0x58, expected 0x50\)/],
  'silent-target': ['program', 'PROBE_TIMEOUT', /openocd killed/],
  'drop-connection': ['program', 'CONNECTION_LOST', /SIGABRT/],
  'dead-chain': ['program', 'TARGET_NOT_RESPONDING', /scan chain interrogation failed/],
  'no-target': ['program', 'PROBE_NOT_FOUND', /Failed to connect/],
  'locked-chip': ['program', 'FLASH_PROTECTED', /device protected/],
  'lock-ineffective': ['lock', 'LOCK_NOT_PROVEN', /read protection off/],
  overcurrent: ['boot current', 'LIMIT_HIGH', /run_mean_ma = 1[45]\d(\.\d+)? mA > max 50 mA/],
  undercurrent: ['boot current', 'LIMIT_LOW', /run_mean_ma = (9|1[01])(\.\d+)? mA < min 20 mA/],
  'dark-led': ['status led', 'LED_STATE', /expected blink, seen off/],
  'wrong-colour': ['power led', 'LIMIT_MISMATCH', /power_colour = "amber", expected "green"/],
  'console-mute': ['firmware version', 'CONSOLE_TIMEOUT', /no line matching/],
  'wrong-version': ['firmware version', 'LIMIT_MISMATCH', /fw = "0\.9\.9", expected "1\.3\.0"/],
  'wrong-serial': ['identity readback', 'LIMIT_MISMATCH', /sn = "XX999999", expected "WG\d{6}"/],
  'no-power-monitor': ['boot current', 'I2C_ERROR', /0x40.*no acknowledge/],
};

describe('pijig sim faults', () => {
  let root: string;
  let ws: SimWorkspace;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-faults-'));
    ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    // one import of a signed bundle, shared by every fault's jig
    const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    const app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50 });
    const imported = new Promise((resolve, reject) => {
      app.usb!.on('imported', resolve);
      app.usb!.on('refused', reject);
    });
    await insertStick(ws.mountDir, 'release', await ws.stickWithBundle('1.3.0'));
    await imported;
    await pullStick(ws.mountDir, 'release');
    await app.stop();
    await jig.close();
  }, 60_000);

  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('offers no fault without an expectation here', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(SIM_FAULTS).sort());
  });

  for (const [fault, [step, reason, message]] of Object.entries(EXPECTED) as [SimFault, (typeof EXPECTED)[SimFault]][]) {
    it(`${fault}: FAIL at "${step}" with ${reason}`, async () => {
      const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, faults: [fault] });
      const app = await startApp(ws.config, jig.hardware(), { log: () => {} });
      try {
        const record = await oneCycle(jig, app);
        expect(record).toMatchObject({ result: 'FAIL', failedStep: step, reason });
        expect(record!.message).toMatch(message);
        expect(app.station.screen).toMatchObject({ kind: 'fail', step, reason });
        expect(jig.outputs().dutPower).toBe(false);
      } finally {
        await app.stop();
        await jig.close();
      }
    }, 60_000);
  }
});
