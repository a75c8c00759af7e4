import type { Framebuffer } from '../devices/display/framebuffer.js';

/** Braille dot bits by position in a 2x4 cell (Unicode U+2800 block): [x][y]. */
const DOTS = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
];

/**
 * The OLED as text at 2x4 pixels per character (Unicode braille): a 128x64 panel is 64 columns by
 * 16 rows, so it fits an 80x24 terminal with room for a status line and events. Rows only, no
 * frame: callers draw their own border.
 */
export function oledRows(fb: Framebuffer): string[] {
  const rows: string[] = [];
  for (let y = 0; y < fb.height; y += 4) {
    let line = '';
    for (let x = 0; x < fb.width; x += 2) {
      let bits = 0;
      for (let dx = 0; dx < 2; dx++) for (let dy = 0; dy < 4; dy++) if (fb.getPixel(x + dx, y + dy)) bits |= DOTS[dx]![dy]!;
      line += String.fromCharCode(0x2800 + bits);
    }
    rows.push(line);
  }
  return rows;
}

/** The rows in a box: `width + 2` columns, `rows + 2` lines. */
export function boxed(rows: readonly string[]): string[] {
  const w = rows[0]?.length ?? 0;
  return [`┌${'─'.repeat(w)}┐`, ...rows.map((r) => `│${r}│`), `└${'─'.repeat(w)}┘`];
}
