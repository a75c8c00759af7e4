import { TypedEmitter } from '../util/typed-emitter.js';
import { OutputError } from '../outputs/errors.js';
import type { LogSync, SyncResult } from '../outputs/stick-logs.js';
import { MediaError } from './errors.js';
import type { Importer, ImportPhase, ImportResult } from './importer.js';
import type { Stick, StickWatcher } from './stick.js';

/** What one insertion did. */
export interface StickOutcome {
  stick: Stick;
  sync: { ok: true; result: SyncResult } | { ok: false; error: OutputError };
  import: { ok: true; result: ImportResult } | { ok: false; error: MediaError };
  /** Everything written to the stick is durable: it may be pulled. */
  safeToRemove: boolean;
}

export interface UsbMediaEvents extends Record<string, unknown[]> {
  /** An import's phase (the operator panel shows it). */
  phase: [{ phase: ImportPhase; version?: string }];
  /** Log sync progress. */
  progress: [{ done: number; total: number }];
  inserted: [Stick];
  removed: [Stick];
  imported: [Extract<ImportResult, { status: 'imported' }>];
  refused: [MediaError];
  synced: [SyncResult];
  'sync-failed': [OutputError];
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
      importer.on('phase', (p) => this.emit('phase', { phase: p.phase, ...(p.version ? { version: p.version } : {}) })),
      logSync.on('progress', (p) => this.emit('progress', p)),
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
      const error = err instanceof OutputError ? err : new OutputError('SYNC_FAILED', (err as Error).message, { cause: err });
      sync = { ok: false, error };
      this.emit('sync-failed', error);
    }
    let imported: StickOutcome['import'];
    try {
      const result = await importer.importFrom(stick.root);
      imported = { ok: true, result };
      if (result.status === 'imported') this.emit('imported', result);
    } catch (err) {
      const error = err instanceof MediaError ? err : new MediaError('READ_FAILED', (err as Error).message, { cause: err });
      imported = { ok: false, error };
      this.emit('refused', error);
    }
    const outcome: StickOutcome = { stick, sync, import: imported, safeToRemove: sync.ok };
    if (outcome.safeToRemove) this.emit('safe-to-remove', stick);
    this.emit('done', outcome);
    return outcome;
  }
}
