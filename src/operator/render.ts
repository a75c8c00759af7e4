import { Framebuffer } from '../devices/display/framebuffer.js';
import { LARGE, SMALL, drawText, fitText, textWidth, wrapText, type Font } from './font.js';
import { ICONS, drawIcon } from './icons.js';
import type { Screen } from './screens.js';

/**
 * Draws each station screen on a 128x64 framebuffer. Pure: the same screen always gives the same
 * pixels, so tests compare frames and the docs PNGs are reproducible.
 *
 * Layout rules: the word that matters (READY, PASS, FAIL, the step) is in the large font; every
 * text is fitted (ellipsis) or wrapped to the lines it has, so nothing is drawn off the glass.
 */
export function renderScreen(screen: Screen, glass: { width: number; height: number } = { width: Framebuffer.WIDTH, height: Framebuffer.HEIGHT }): Framebuffer {
  const layout = drawScreen(new Framebuffer(), screen);
  if (glass.width === layout.width && glass.height === layout.height) return layout;
  // Every layout is drawn for 128x64; a larger glass shows it centred.
  const fb = new Framebuffer(glass.width, glass.height);
  fb.blit(layout, Math.floor((glass.width - layout.width) / 2), Math.floor((glass.height - layout.height) / 2));
  return fb;
}

/** Draw `screen` onto a cleared `fb` and return it. */
export function drawScreen(fb: Framebuffer, screen: Screen): Framebuffer {
  fb.clear();
  switch (screen.kind) {
    case 'ready': return ready(fb, screen);
    case 'close-lid': return closeLid(fb, screen);
    case 'running': return running(fb, screen);
    case 'pass': return pass(fb, screen);
    case 'fail': return fail(fb, screen);
    case 'aborted': return aborted(fb, screen);
    case 'fault': return fault(fb, screen);
    case 'message': return message(fb, screen);
  }
}

const W = Framebuffer.WIDTH;
const H = Framebuffer.HEIGHT;
const MARGIN = 2;
const HEADER_H = 11;

/** Where the running screen draws its progress bar (tests check the fill against progress). */
export const PROGRESS_BAR = { x: 0, y: 50, w: W, h: 13, inset: 2 } as const;

type Of<K extends Screen['kind']> = Extract<Screen, { kind: K }>;

function ready(fb: Framebuffer, s: Of<'ready'>): Framebuffer {
  header(fb, s.product, versionLabel(s.version));
  centered(fb, 17, 'READY', LARGE);
  if (s.printer) noticeBar(fb, 37, s.printer);
  else centered(fb, 37, s.note ?? 'Press START', SMALL);
  dottedRule(fb, 49);
  const passText = `PASS ${s.pass}`;
  const failText = `FAIL ${s.fail}`;
  drawText(fb, MARGIN, 54, fitText(passText, SMALL, W / 2 - MARGIN - 2), SMALL);
  const f = fitText(failText, SMALL, W / 2 - MARGIN - 2);
  drawText(fb, W - MARGIN - textWidth(f, SMALL), 54, f, SMALL);
  if (s.error) centered(fb, 54, `ERR ${s.error}`, SMALL);
  return fb;
}

function closeLid(fb: Framebuffer, s: Of<'close-lid'>): Framebuffer {
  header(fb, s.product, versionLabel(s.version));
  centered(fb, 20, 'CLOSE LID', LARGE);
  if (s.printer) noticeBar(fb, 44, s.printer);
  else centered(fb, 44, 'to start the test', SMALL);
  return fb;
}

function running(fb: Framebuffer, s: Of<'running'>): Framebuffer {
  header(fb, `STEP ${s.stepIndex}/${s.stepCount}`, formatClock(s.elapsedMs));
  // The step name in the large font when it fits, else two small lines.
  const name = s.step.toUpperCase();
  let y = 16;
  if (textWidth(name, LARGE) <= W - 2 * MARGIN) {
    centered(fb, y, name, LARGE);
    y += LARGE.height + 4;
  } else {
    const lines = wrapText(s.step, SMALL, W - 2 * MARGIN, s.detail ? 2 : 3);
    for (const line of lines) {
      centered(fb, y, line, SMALL);
      y += SMALL.lineHeight;
    }
    y += 2;
  }
  if (s.detail && y + SMALL.capHeight <= PROGRESS_BAR.y - 2) centered(fb, y, s.detail, SMALL);
  progressBar(fb, s.progress);
  return fb;
}

function pass(fb: Framebuffer, s: Of<'pass'>): Framebuffer {
  hero(fb, 3, 'PASS');
  const lines: string[] = [];
  if (s.serial !== undefined && s.serial !== '') lines.push(`SN ${s.serial}`);
  if (!s.printer) lines.push(formatDuration(s.durationMs));
  let y = lines.length === 2 || s.printer ? 40 : 45;
  for (const line of lines) {
    centered(fb, y, line, SMALL);
    y += SMALL.lineHeight + 3;
  }
  if (s.printer) noticeBar(fb, 52, s.printer);
  return fb;
}

/**
 * FAIL is drawn dark on a lit block, so it is told from PASS at a glance, not by reading. ERROR
 * (the jig could not judge the unit) is drawn in an outlined block: not a reject.
 */
function fail(fb: Framebuffer, s: Of<'fail'>): Framebuffer {
  if (s.error) {
    fb.strokeRect(0, 0, W, 35);
    hero(fb, 3, s.title ?? 'ERROR');
  } else {
    fb.fillRect(0, 0, W, 35);
    hero(fb, 3, s.title ?? 'FAIL', false);
  }
  const y0 = 37;
  const rows = 3;
  const reason = fitText(s.reason, SMALL, W - 2 * MARGIN);
  const detail = s.detail ? fitText(s.detail, SMALL, W - 2 * MARGIN) : undefined;
  const stepLines = wrapText(s.step, SMALL, W - 2 * MARGIN, rows - 1 - (detail ? 1 : 0));
  const lines = [...stepLines, reason, ...(detail ? [detail] : [])];
  lines.forEach((line, i) => centered(fb, y0 + i * SMALL.lineHeight, line, SMALL));
  return fb;
}

function aborted(fb: Framebuffer, s: Of<'aborted'>): Framebuffer {
  fb.strokeRect(0, 0, W, 34);
  centered(fb, 9, 'ABORTED', LARGE);
  if (s.step) {
    const lines = wrapText(`during ${s.step}`, SMALL, W - 2 * MARGIN, 2);
    const y0 = lines.length > 1 ? 39 : 43;
    lines.forEach((line, i) => centered(fb, y0 + i * SMALL.lineHeight, line, SMALL));
  } else {
    centered(fb, 43, 'Unit not tested', SMALL);
  }
  return fb;
}

/** A fault stops the station: lit title bar with a warning sign, then the details. */
function fault(fb: Framebuffer, s: Of<'fault'>): Framebuffer {
  const barH = 19;
  fb.fillRect(0, 0, W, barH);
  drawIcon(fb, MARGIN, 1, ICONS.warning, { on: false });
  const titleX = MARGIN + 16 + 4;
  const titleW = W - titleX - MARGIN;
  titleBlock(fb, titleX, 2, titleW, barH - 4, s.title, false);
  bodyLines(fb, barH + 3, s.lines);
  return fb;
}

/**
 * Icon and title centred together; a long title takes a second large line, or falls back to
 * small. The whole block is centred vertically so a short message does not hang at the top.
 */
function message(fb: Framebuffer, s: Of<'message'>): Framebuffer {
  const ic = ICONS[s.icon ?? 'ok'];
  const iconW = ic.width + 4;
  const large = largeTitle(s.title, W - 2 * MARGIN - iconW, W - 2 * MARGIN);
  const titleH = large ? large.length * (LARGE.height + 3) - 3 : 17;
  const gap = 4;
  const body = layoutBody(1 + titleH + gap, s.lines);
  const blockH = titleH + (body.length > 0 ? gap + body.length * SMALL.lineHeight - 2 : 0);
  const top = Math.max(1, Math.floor((H - blockH) / 2));
  if (large) {
    const first = textWidth(large[0], LARGE);
    const x = Math.floor((W - iconW - first) / 2);
    drawIcon(fb, x, top + Math.floor((LARGE.height - ic.height) / 2), ic);
    drawText(fb, x + iconW, top, large[0], LARGE);
    if (large.length > 1) centered(fb, top + LARGE.height + 3, large[1]!, LARGE);
  } else {
    drawIcon(fb, MARGIN, top, ic);
    titleBlock(fb, MARGIN + iconW, top, W - 2 * MARGIN - iconW, titleH, s.title, true);
  }
  // Centred under a centred large title; left-aligned under a small one, which is left-aligned.
  drawBody(fb, top + titleH + gap, body, large !== undefined);
  return fb;
}

// --- building blocks ---------------------------------------------------------------------

/** A lit bar across the top with dark text at both ends; the left side gives way to the right. */
function header(fb: Framebuffer, left: string, right: string): void {
  fb.fillRect(0, 0, W, HEADER_H);
  const r = fitText(right, SMALL, W / 2);
  const rw = textWidth(r, SMALL);
  drawText(fb, W - MARGIN - rw, 2, r, SMALL, { on: false });
  const l = fitText(left, SMALL, W - 2 * MARGIN - rw - 6);
  drawText(fb, MARGIN, 2, l, SMALL, { on: false });
}

function centered(fb: Framebuffer, y: number, text: string, font: Font, on = true): void {
  const t = fitText(text, font, W - 2 * MARGIN);
  drawText(fb, Math.floor((W - textWidth(t, font)) / 2), y, t, font, { on });
}

/** A word at twice the large font (30 px), smoothed; falls back to 1x if it would not fit. */
function hero(fb: Framebuffer, y: number, word: string, on = true): void {
  if (textWidth(word, LARGE, 2) <= W - 2 * MARGIN) {
    drawText(fb, Math.floor((W - textWidth(word, LARGE, 2)) / 2), y, word, LARGE, { scale: 2, on });
  } else {
    centered(fb, y + 8, word, LARGE, on);
  }
}

function progressBar(fb: Framebuffer, progress: number): void {
  const { x, y, w, h, inset } = PROGRESS_BAR;
  fb.strokeRect(x, y, w, h);
  fb.fillRect(x + inset, y + inset, progressFill(progress), h - 2 * inset);
}

/** Lit width of the progress bar's inside for a progress in 0..1 (clamped; NaN shows empty). */
export function progressFill(progress: number): number {
  const inner = PROGRESS_BAR.w - 2 * PROGRESS_BAR.inset;
  const p = Number.isFinite(progress) ? Math.min(1, Math.max(0, progress)) : 0;
  return Math.round(p * inner);
}

/** A short notice in dark text on a lit bar across the panel (the label printer's problem): seen without reading. */
function noticeBar(fb: Framebuffer, y: number, text: string): void {
  fb.fillRect(0, y - 2, W, SMALL.capHeight + 4);
  centered(fb, y, text, SMALL, false);
}

function dottedRule(fb: Framebuffer, y: number): void {
  for (let x = MARGIN; x < W - MARGIN; x += 2) fb.setPixel(x, y);
}

/** A title in the large font if it fits on one line, else up to two small lines, centred in h. */
function titleBlock(fb: Framebuffer, x: number, y: number, w: number, h: number, title: string, on: boolean): void {
  if (textWidth(title, LARGE) <= w) {
    drawText(fb, x, y + Math.floor((h - LARGE.height) / 2), title, LARGE, { on });
    return;
  }
  const lines = wrapText(title, SMALL, w, 2);
  const blockH = lines.length * SMALL.lineHeight - 2;
  let ty = y + Math.max(0, Math.floor((h - blockH) / 2));
  for (const line of lines) {
    drawText(fb, x, ty, line, SMALL, { on });
    ty += SMALL.lineHeight;
  }
}

/**
 * Split a title into at most two large-font lines: the first beside the icon (`firstW`), the
 * second across the panel (`restW`). Undefined if it cannot be done.
 */
function largeTitle(title: string, firstW: number, restW: number): [string] | [string, string] | undefined {
  const t = title.trim();
  if (textWidth(t, LARGE) <= firstW) return [t];
  const words = t.split(/\s+/);
  for (let i = words.length - 1; i > 0; i--) {
    const a = words.slice(0, i).join(' ');
    const b = words.slice(i).join(' ');
    if (textWidth(a, LARGE) <= firstW && textWidth(b, LARGE) <= restW) return [a, b];
  }
  return undefined;
}

/** Small-font paragraphs from `y` down to the bottom edge; each wrapped, the last cut with an ellipsis. */
function bodyLines(fb: Framebuffer, y: number, paragraphs: readonly string[]): void {
  drawBody(fb, y, layoutBody(y, paragraphs), false);
}

function layoutBody(y: number, paragraphs: readonly string[]): string[] {
  const maxRows = Math.max(0, Math.floor((H - y - 2) / SMALL.lineHeight));
  const out: string[] = [];
  for (let i = 0; i < paragraphs.length && out.length < maxRows; i++) {
    const room = maxRows - out.length;
    const wrapped = wrapText(paragraphs[i]!, SMALL, W - 2 * MARGIN, room);
    out.push(...wrapped);
    const more = i < paragraphs.length - 1;
    if (more && out.length >= maxRows) {
      // Later paragraphs are lost: say so on the last line.
      const last = out.length - 1;
      out[last] = fitText(out[last]! + ' ' + paragraphs.slice(i + 1).join(' '), SMALL, W - 2 * MARGIN);
    }
  }
  return out;
}

function drawBody(fb: Framebuffer, y: number, lines: readonly string[], centre: boolean): void {
  lines.forEach((line, i) => {
    if (centre) centered(fb, y + i * SMALL.lineHeight, line, SMALL);
    else drawText(fb, MARGIN, y + i * SMALL.lineHeight, line, SMALL);
  });
}

function versionLabel(version: string): string {
  return /^\d/.test(version) ? `v${version}` : version;
}

/** Elapsed time as mm:ss (h:mm:ss past an hour); the running screen's clock. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor((Number.isFinite(ms) ? ms : 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** A cycle time for the PASS screen: "12.3 s" under a minute, else "1:05 min". */
export function formatDuration(ms: number): string {
  const v = Math.max(0, Number.isFinite(ms) ? ms : 0);
  if (v < 60_000) return `${(v / 1000).toFixed(1)} s`;
  const c = formatClock(v);
  return `${c.startsWith('0') && c.length === 5 ? c.slice(1) : c} min`;
}
