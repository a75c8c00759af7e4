import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Importer } from '../../src/media/importer.js';
import { LogSync } from '../../src/outputs/stick-logs.js';
import { followMedia, type MessageScreen } from '../../src/operator/messages.js';
import { StickWatcher } from '../../src/media/stick.js';
import { insertStick, pullStick } from '../../src/sim/stick.js';
import { BundleStore } from '../../src/media/store.js';
import { UsbMedia, type StickOutcome } from '../../src/media/usb.js';
import { csvHeader } from '../../src/records/export.js';
import { Journal } from '../../src/records/journal.js';
import { makeBundle, makeKey, settingsFor, stickWith, tempDir, unit } from './helpers.js';

describe('the USB stick, end to end', () => {
  it('keygen, create, sign, insert, import, run units, sync logs out', async () => {
    const key = await makeKey('factory-2025');
    const bundle = await makeBundle(key, { version: '1.4.2' });

    const dataDir = await tempDir('pijig-data-');
    const mountDir = join(await tempDir(), 'media');
    const journal = await Journal.open(join(dataDir, 'journal.jsonl'));
    const store = new BundleStore(dataDir);
    const watcher = new StickWatcher({ mountDir });
    const usb = new UsbMedia({
      watcher,
      importer: new Importer({ store, settings: settingsFor([key]), waitUntilIdle: async () => {} }),
      logSync: new LogSync({ journal, stationId: 'st-01' }),
    });
    const messages: MessageScreen[] = [];
    followMedia(usb, (m) => messages.push(m));
    const done = () => new Promise<StickOutcome>((resolve) => {
      const off = usb.on('done', (o) => {
        off();
        resolve(o);
      });
    });
    usb.start();

    // the release stick
    let finished = done();
    await insertStick(mountDir, 'RELEASE', await stickWith(bundle));
    await watcher.scan();
    let outcome = await finished;
    expect(outcome.import).toMatchObject({ ok: true, result: { status: 'imported', version: '1.4.2' } });
    expect(outcome.safeToRemove).toBe(true);
    expect(messages.map((m) => m.title)).toEqual([
      'CHECKING IMAGE',
      'COPYING IMAGE',
      'CHECKING COPY',
      'ACTIVATING IMAGE',
      'NEW IMAGE 1.4.2 READY',
      'NEW IMAGE 1.4.2 READY',
    ]);
    expect(messages.at(-1)).toEqual({ kind: 'message', title: 'NEW IMAGE 1.4.2 READY', lines: ['SAFE TO REMOVE', '0 RECORDS SYNCED'], icon: 'ok' });

    // the station runs units with the active image, each record carrying the bundle and image hashes
    const active = (await store.active())!;
    for (let i = 1; i <= 3; i++) {
      await journal.append(
        unit(i, {
          image: {
            bundleId: active.bundleId,
            version: active.image.version,
            imageHash: active.image.imageHash,
            regions: Object.fromEntries(active.image.regions.map((r) => [r.name, r.sha256])),
          },
        }),
      );
    }
    await pullStick(mountDir, 'RELEASE');
    await watcher.scan();

    // a stick for the logs (the same release bundle on it: unchanged)
    messages.length = 0;
    finished = done();
    const root = await insertStick(mountDir, 'LOGS', await stickWith(bundle));
    await watcher.scan();
    outcome = await finished;
    expect(outcome.import).toMatchObject({ ok: true, result: { status: 'unchanged' } });
    expect(messages.map((m) => m.title)).toEqual(['SYNCING LOGS 0/3', 'SYNCING LOGS 3/3', 'SAFE TO REMOVE']);
    expect(messages.at(-1)?.lines).toEqual(['3 RECORDS SYNCED']);

    const csv = await readFile(join(root, 'pijig/logs/st-01/units.csv'), 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(csvHeader().trimEnd());
    expect(lines).toHaveLength(5); // header, 3 units, final empty
    expect(lines[1]).toMatch(new RegExp(`^1,st-01,BLK-001001,02:50:4a:00:00:01,,,${active.image.imageHash},1\\.4\\.2,${active.bundleId},,PASS,,,,2025-03-01T08:00:01\\.000Z,`));
    const jsonl = (await readFile(join(root, 'pijig/logs/st-01/units.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(jsonl.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(jsonl[0].image).toMatchObject({ bundleId: active.bundleId, imageHash: active.image.imageHash });

    await usb.stop();
    await journal.close();
  });

  it('shows the specific refusal and still syncs the logs', async () => {
    const key = await makeKey('factory');
    const stranger = await makeKey('stranger');
    const dataDir = await tempDir();
    const mountDir = await tempDir();
    const journal = await Journal.open(join(dataDir, 'journal.jsonl'));
    await journal.append(unit(1));
    const watcher = new StickWatcher({ mountDir });
    const usb = new UsbMedia({
      watcher,
      importer: new Importer({ store: new BundleStore(dataDir), settings: settingsFor([key]), waitUntilIdle: async () => {} }),
      logSync: new LogSync({ journal, stationId: 'st-01' }),
    });
    const root = await insertStick(mountDir, 'X', await stickWith(await makeBundle(stranger)));
    const messages: MessageScreen[] = [];
    followMedia(usb, (m) => messages.push(m));
    const outcome = await usb.handle({ name: 'X', root });
    expect(outcome.import).toMatchObject({ ok: false, error: { code: 'UNKNOWN_KEY' } });
    expect(outcome.sync).toMatchObject({ ok: true, result: { appended: 1 } });
    expect(messages.at(-1)).toEqual({ kind: 'message', title: 'REFUSED: signed with a key this station does not trust', lines: ['UNKNOWN_KEY', 'keyFingerprint', 'SAFE TO REMOVE'], icon: 'error' });
    await journal.close();
  });
});
