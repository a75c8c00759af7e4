/**
 * What the OLED shows: the operator panel (panel.ts) decides the screen, the renderer (render.ts)
 * draws it. Every screen must be readable at arm's length on a 128x64 panel.
 */
export type Screen =
  | { kind: 'ready'; product: string; version: string; pass: number; fail: number; error?: number; note?: string }
  | { kind: 'close-lid'; product: string; version: string }
  | { kind: 'running'; step: string; stepIndex: number; stepCount: number; progress: number; elapsedMs: number; detail?: string }
  | { kind: 'pass'; serial?: string; durationMs: number }
  /**
   * A FAIL (the unit is a reject), or with `error` an ERROR: the jig could not judge the unit
   * (retest it). `title` replaces the FAIL/ERROR word (QUARANTINE, PASSED, LOCKED).
   */
  | { kind: 'fail'; step: string; reason: string; detail?: string; error?: boolean; title?: string }
  | { kind: 'aborted'; step?: string }
  | { kind: 'fault'; title: string; lines: string[] }
  /** Media events: "NEW IMAGE 1.4.2 READY", "REFUSED: bad signature", "SAFE TO REMOVE". */
  | { kind: 'message'; title: string; lines: string[]; icon?: 'ok' | 'error' | 'usb' | 'wait' };
