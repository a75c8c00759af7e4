import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemdClock } from '../../../src/devices/clock/clock.systemd.js';

describe('the systemd clock', () => {
  it('is synchronised when timesyncd\'s flag file exists; unknown when neither the flag nor timedatectl can tell', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-clock-'));
    try {
      const flag = join(dir, 'synchronized');
      const clock = new SystemdClock({ flagFile: flag, timedatectl: join(dir, 'no-timedatectl') });
      expect(await clock.synchronized()).toBeUndefined();
      await writeFile(flag, '');
      expect(await clock.synchronized()).toBe(true);
      expect(clock.source).toMatch(/synchronized or timedatectl/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('asks the real timedatectl when there is no flag file, and never throws (yes, no, or unknown where systemd does not run)', async () => {
    const clock = new SystemdClock({ flagFile: '/nonexistent/synchronized' });
    expect([true, false, undefined]).toContain(await clock.synchronized());
  });
});
