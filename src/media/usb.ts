import { TypedEmitter } from '../util/typed-emitter.js';
import { MediaError } from './errors.js';
import type { Importer, ImportResult } from './importer.js';
import type { LogSync, SyncResult } from './log-sync.js';
import { importPhaseMessage, newImageMessage, refusedMessage, safeToRemoveMessage, syncFailedMessage, syncingMessage, type MessageScreen } from './messages.js';
import type { Stick, StickWatcher } from './stick.js';

/** What one insertion did. */
export interface StickOutcome {
  stick: Stick;
  sync: { ok: true; result: SyncResult } | { ok: false; error: MediaError };
  import: { ok: true; result: ImportResult } | { ok: false; error: MediaError };
  /** Everything written to the stick is durable: it may be pulled. */
  safeToRemove: boolean;
}

export interface UsbMediaEvents extends Record<string, unknown[]> {
  /** What the OLED should show now. */
  message: [MessageScreen];
  inserted: [Stick];
  removed: [Stick];
  imported: [Extract<ImportResult, { status: 'imported' }>];
  refused: [MediaError];
  synced: [SyncResult];
  'sync-failed': [MediaError];
  'safe-to-remove': [Stick];
  done: [StickOutcome];
}

export interface UsbMediaDeps {
  watcher: StickWatcher;
  importer: Importer;
  logSync: LogSync;
}

/**
 * The USB port's behaviour: on every stick, sync the logs out (no need to wait for the cycle),
 * then import the bundle it carries, if any (waits for the cycle to end), then say it is safe to
 * remove. Sticks are handled one at a time. Nothing here throws: every outcome is an event.
 */
export class UsbMedia extends TypedEmitter<UsbMediaEvents> {
  private queue: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: UsbMediaDeps) {
    super();
  }

  start(): void {
    const { watcher, importer, logSync } = this.deps;
    this.unsubscribe.push(
      watcher.on('inserted', (stick) => {
        this.emit('inserted', stick);
        void this.handle(stick);
      }),
      watcher.on('removed', (stick) => this.emit('removed', stick)),
      importer.on('phase', (p) => this.emit('message', importPhaseMessage(p.phase, p.version))),
      logSync.on('progress', (p) => this.emit('message', syncingMessage(p.done, p.total))),
    );
    watcher.start();
  }

  /** Stop watching; resolves when the stick being handled is done. */
  async stop(): Promise<void> {
    this.deps.watcher.stop();
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    await this.queue;
  }

  /** Handle one stick (the watcher calls this on insertion). */
  handle(stick: Stick): Promise<StickOutcome> {
    const run = () => this.process(stick);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async process(stick: Stick): Promise<StickOutcome> {
    const { importer, logSync } = this.deps;
    let sync: StickOutcome['sync'];
    try {
      const result = await logSync.sync(stick.root);
      sync = { ok: true, result };
      this.emit('synced', result);
    } catch (err) {
      const error = asMediaError(err, 'SYNC_FAILED');
      sync = { ok: false, error };
      this.emit('sync-failed', error);
    }
    let imported: StickOutcome['import'];
    try {
      const result = await importer.importFrom(stick.root);
      imported = { ok: true, result };
      if (result.status === 'imported') {
        this.emit('imported', result);
        this.emit('message', newImageMessage(result.version, result.product));
      }
    } catch (err) {
      const error = asMediaError(err, 'READ_FAILED');
      imported = { ok: false, error };
      this.emit('refused', error);
    }
    const outcome: StickOutcome = { stick, sync, import: imported, safeToRemove: sync.ok };
    this.emit('message', finalMessage(outcome));
    if (outcome.safeToRemove) this.emit('safe-to-remove', stick);
    this.emit('done', outcome);
    return outcome;
  }
}

/** The screen left standing after a stick is handled: the most important news first, "SAFE TO REMOVE" always said when true. */
export function finalMessage(o: StickOutcome): MessageScreen {
  if (!o.sync.ok) return syncFailedMessage(o.sync.error);
  const synced = `${o.sync.result.appended} RECORDS SYNCED`;
  if (!o.import.ok) {
    const m = refusedMessage(o.import.error);
    return { ...m, lines: [...m.lines.slice(0, 2), 'SAFE TO REMOVE'] };
  }
  if (o.import.result.status === 'imported') {
    return { ...newImageMessage(o.import.result.version, o.import.result.product), lines: ['SAFE TO REMOVE', synced] };
  }
  return safeToRemoveMessage([synced]);
}

function asMediaError(err: unknown, code: 'SYNC_FAILED' | 'READ_FAILED'): MediaError {
  return err instanceof MediaError ? err : new MediaError(code, (err as Error).message, { cause: err });
}
