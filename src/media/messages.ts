import type { Screen } from '../devices/display/screens.js';
import { MEDIA_CODES, type MediaError } from './errors.js';
import type { ImportPhase } from './importer.js';

/** The OLED's message screen; the media subsystem says what to show, the station shows it. */
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

export function syncFailedMessage(err: MediaError): MessageScreen {
  return err.code === 'STICK_REMOVED'
    ? { kind: 'message', title: 'STICK PULLED TOO EARLY', lines: ['REINSERT TO FINISH', 'LOG SYNC'], icon: 'error' }
    : { kind: 'message', title: 'LOG SYNC FAILED', lines: [err.code], icon: 'error' };
}
