import type { Screen } from './screens.js';
import { MEDIA_CODES, type MediaError } from '../media/errors.js';
import type { ImportPhase } from '../media/importer.js';
import type { StickOutcome, UsbMedia } from '../media/usb.js';
import type { OutputError } from '../outputs/errors.js';

/** The OLED's message screen for what the USB stick does. */
export type MessageScreen = Extract<Screen, { kind: 'message' }>;

const PHASE_TEXT: Record<ImportPhase, string> = {
  waiting: 'WAITING FOR CYCLE END',
  verifying: 'CHECKING IMAGE',
  copying: 'COPYING IMAGE',
  'checking-copy': 'CHECKING COPY',
  activating: 'ACTIVATING IMAGE',
};

export function importPhaseMessage(phase: ImportPhase, version?: string): MessageScreen {
  return { kind: 'message', title: PHASE_TEXT[phase], lines: version ? [`VERSION ${version}`, 'DO NOT REMOVE'] : ['DO NOT REMOVE'], icon: 'wait' };
}

export function newImageMessage(version: string, product: string): MessageScreen {
  return { kind: 'message', title: `NEW IMAGE ${version} READY`, lines: [product], icon: 'ok' };
}

/** "REFUSED: bad signature", with the file or field it concerns. */
export function refusedMessage(err: MediaError): MessageScreen {
  const detail = err.field ?? (err.file ? err.file.split('/').slice(-2).join('/') : undefined);
  return { kind: 'message', title: `REFUSED: ${MEDIA_CODES[err.code]}`, lines: [err.code, ...(detail ? [detail] : [])], icon: 'error' };
}

export function syncingMessage(done: number, total: number): MessageScreen {
  return { kind: 'message', title: `SYNCING LOGS ${done}/${total}`, lines: ['DO NOT REMOVE'], icon: 'wait' };
}

export function safeToRemoveMessage(lines: string[] = []): MessageScreen {
  return { kind: 'message', title: 'SAFE TO REMOVE', lines, icon: 'usb' };
}

export function syncFailedMessage(err: OutputError): MessageScreen {
  if (err.code === 'STICK_REMOVED') return { kind: 'message', title: 'STICK PULLED TOO EARLY', lines: ['REINSERT TO FINISH', 'LOG SYNC'], icon: 'error' };
  if (err.code === 'STICK_READ_ONLY') return { kind: 'message', title: 'READ-ONLY STICK', lines: ['LOGS NOT WRITTEN', 'WRITE-PROTECT SWITCH?'], icon: 'error' };
  return { kind: 'message', title: 'LOG SYNC FAILED', lines: [err.code], icon: 'error' };
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

/**
 * What the operator sees of a stick: each event of the USB port as a message screen, in order.
 * `show` gets each screen; `removed` is told when the stick is pulled. Returns the unsubscribe.
 */
export function followMedia(usb: Pick<UsbMedia, 'on'>, show: (screen: MessageScreen) => void, removed: () => void = () => {}): () => void {
  const offs = [
    usb.on('phase', (p) => show(importPhaseMessage(p.phase, p.version))),
    usb.on('progress', (p) => show(syncingMessage(p.done, p.total))),
    usb.on('imported', (r) => show(newImageMessage(r.version, r.product))),
    usb.on('done', (o) => show(finalMessage(o))),
    usb.on('removed', () => removed()),
  ];
  return () => offs.forEach((off) => off());
}
