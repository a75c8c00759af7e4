/**
 * What the OLED shows: the operator panel (panel.ts) decides the screen, the renderer (render.ts)
 * draws it. Every screen must be readable at arm's length on a 128x64 panel.
 */
export type Screen =
  /** `printer`: the label printer's problem ("PRINTER PAPER OUT"), on a lit bar where the hint was. */
  | { kind: 'ready'; product: string; version: string; pass: number; fail: number; error?: number; note?: string; printer?: string }
  | { kind: 'close-lid'; product: string; version: string; printer?: string }
  | { kind: 'running'; step: string; stepIndex: number; stepCount: number; progress: number; elapsedMs: number; detail?: string }
  /** `printer`: why this unit's label does not come out now (it waits and prints later), under the serial. */
  | { kind: 'pass'; serial?: string; durationMs: number; printer?: string }
  /**
   * A FAIL (the unit is a reject), or with `error` an ERROR: the jig could not judge the unit
   * (retest it). `title` replaces the FAIL/ERROR word (QUARANTINE, PASSED, LOCKED).
   */
  | { kind: 'fail'; step: string; reason: string; detail?: string; error?: boolean; title?: string }
  | { kind: 'aborted'; step?: string }
  | { kind: 'fault'; title: string; lines: string[] }
  /** Media events: "NEW IMAGE 1.4.2 READY", "REFUSED: bad signature", "SAFE TO REMOVE". */
  | { kind: 'message'; title: string; lines: string[]; icon?: 'ok' | 'error' | 'usb' | 'wait' };
