import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig, SIM_FAULTS, type SimFault } from '../../src/sim/jig.js';
import { startApp } from '../../src/app.js';
import { insertStick, pullStick } from '../../src/sim/stick.js';
import { oneCycle } from '../../src/sim/run.js';
import { SIM_FAULT_NAMES } from '../../src/cli/sim-faults.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));

/**
 * Every fault `pijig sim --fault` offers ends the unit with a result and a reason of its own kind,
 * at the step that should catch it: FAIL when the unit is judged bad, ERROR when the jig (probe,
 * adapter, its I2C device) could not judge it.
 */
const EXPECTED: Record<SimFault, [step: string, reason: string, message: RegExp, result: 'FAIL' | 'ERROR']> = {
  'stuck-bit': ['program', 'VERIFY_FAILED', /0x08000100 \(read 0x58, expected 0x50\)/, 'FAIL'],
  'silent-target': ['program', 'PROBE_TIMEOUT', /openocd killed/, 'ERROR'],
  'drop-connection': ['program', 'CONNECTION_LOST', /SIGABRT/, 'ERROR'],
  'dead-chain': ['program', 'TARGET_NOT_RESPONDING', /scan chain interrogation failed/, 'FAIL'],
  'no-target': ['program', 'PROBE_NOT_FOUND', /Failed to connect/, 'ERROR'],
  // a locked chip this station never passed: recognised as such, not an anonymous FLASH_PROTECTED
  'locked-chip': ['program', 'ALREADY_LOCKED', /chip [0-9a-f]{24} is read-out protected and this station never passed it/, 'ERROR'],
  'lock-ineffective': ['lock', 'LOCK_NOT_PROVEN', /read protection off/, 'FAIL'],
  overcurrent: ['boot current', 'LIMIT_HIGH', /run_mean_ma = 1[45]\d(\.\d+)? mA > max 50 mA/, 'FAIL'],
  // 25 mA running + 5 mA per lit LED - 20 mA: 10 mA with the blinking status LED dark through the
  // 200 ms window, 15 mA with it lit; where the window falls in the 2 Hz blink depends on timing
  undercurrent: ['boot current', 'LIMIT_LOW', /run_mean_ma = (9|1[0-5])(\.\d+)? mA < min 20 mA/, 'FAIL'],
  'dark-led': ['status led', 'LED_STATE', /expected blink, seen off/, 'FAIL'],
  'wrong-colour': ['power led', 'LIMIT_MISMATCH', /power_colour = "amber", expected "green"/, 'FAIL'],
  'console-mute': ['firmware version', 'CONSOLE_TIMEOUT', /no line matching/, 'FAIL'],
  'wrong-version': ['firmware version', 'LIMIT_MISMATCH', /fw = "0\.9\.9", expected "1\.3\.0"/, 'FAIL'],
  'wrong-serial': ['identity readback', 'LIMIT_MISMATCH', /sn = "XX999999", expected "WG\d{6}"/, 'FAIL'],
  'no-power-monitor': ['boot current', 'I2C_ERROR', /0x40.*no acknowledge/, 'ERROR'],
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

  it('pijig --help names every fault without loading the simulator', () => {
    expect([...SIM_FAULT_NAMES].sort()).toEqual(Object.keys(SIM_FAULTS).sort());
  });

  for (const [fault, [step, reason, message, result]] of Object.entries(EXPECTED) as [SimFault, (typeof EXPECTED)[SimFault]][]) {
    it(`${fault}: ${result} at "${step}" with ${reason}`, async () => {
      const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, faults: [fault] });
      const app = await startApp(ws.config, jig.hardware(), { log: () => {} });
      try {
        const record = await oneCycle(jig, app);
        expect(record).toMatchObject({ result, failedStep: step, reason });
        expect(record!.message).toMatch(message);
        expect(app.panel.screen).toMatchObject({ kind: 'fail', step, reason });
        expect((app.panel.screen as { error?: boolean }).error).toBe(result === 'ERROR' ? true : undefined);
        expect(app.station.state).toBe(result === 'FAIL' ? 'fail' : 'unit_error');
        expect(jig.outputs().dutPower).toBe(false);
      } finally {
        await app.stop();
        await jig.close();
      }
    }, 60_000);
  }
});
