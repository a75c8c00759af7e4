import qrcode from 'qrcode-generator';
import { Framebuffer } from '../devices/display/framebuffer.js';
import type { UnitRecord } from '../core/record.js';
import { PijigError } from '../core/errors.js';
import { LARGE, SMALL, ELLIPSIS, scale2x, type Font, type Glyph } from './font.js';

/**
 * The unit's label, drawn dot for dot: a QR code on the left, the text lines beside it, in the
 * project's own bitmap fonts (the OLED's), enlarged to be read on a label. Pure: the same unit
 * always gives the same dots, so the printed label, the docs PNG and the tests agree.
 */

export type LabelField = 'serial' | 'mac' | 'product' | 'version' | 'date' | 'station';
export type QrEcc = 'L' | 'M' | 'Q' | 'H';

/** The label in dots (the printer's resolution), what it shows and what its QR code holds. */
export interface LabelTemplate {
  width: number;
  height: number;
  fields: readonly LabelField[];
  /** QR payload with ${unit.serial}, ${unit.mac}, ${unit.id}, ${unit.date}, ${product}, ${image.version}, ${station}. */
  qr: string;
  qrEcc: QrEcc;
}

/** What a label says about one unit. `reject`: an inverted REJECT label for a FAIL. */
export interface LabelContent {
  kind: 'unit' | 'reject';
  id: string;
  serial?: string;
  mac?: string;
  product: string;
  version?: string;
  date: string;
  station: string;
  reason?: string;
  step?: string;
}

export class LabelError extends PijigError<'QR_TOO_BIG' | 'LABEL_TOO_SMALL'> {}

/** A text style: a font and an integer enlargement (2 and 4 smoothed with Scale2x, 3 by repetition). */
export interface TextStyle {
  font: 'small' | 'large';
  scale: 1 | 2 | 3 | 4;
}

export interface PlacedLine {
  field: LabelField | 'reason' | 'step' | 'banner';
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
  style: TextStyle;
}

export interface RenderedLabel {
  image: Framebuffer;
  lines: PlacedLine[];
  qr: { x: number; y: number; moduleSize: number; modules: number; payload: string };
}

/** Dots of a label of `mm` at `dpi`, cut down to whole bytes across and whole 8-dot rows down (< 1 mm). */
export function labelDots(mm: { width: number; height: number }, dpi: number): { width: number; height: number } {
  const dots = (v: number) => Math.floor((v * dpi) / 25.4 / 8) * 8;
  return { width: dots(mm.width), height: dots(mm.height) };
}

/** The label's content for a unit record: a unit label for PASS, a REJECT label for FAIL. */
export function labelContent(record: UnitRecord): LabelContent {
  const ended = new Date(record.endedAt);
  const pad = (n: number) => String(n).padStart(2, '0');
  return {
    kind: record.result === 'PASS' ? 'unit' : 'reject',
    id: record.id,
    ...(record.serial ? { serial: record.serial } : {}),
    ...(record.mac ? { mac: record.mac.toUpperCase() } : {}),
    product: record.plan.product,
    ...(record.image?.version ? { version: record.image.version } : {}),
    // the jig's local date: the day the operator stuck the label on
    date: `${ended.getFullYear()}-${pad(ended.getMonth() + 1)}-${pad(ended.getDate())}`,
    station: record.station,
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.failedStep ? { step: record.failedStep } : {}),
  };
}

/** The QR payload: the template with its variables filled in (unknown ones were refused by the config). */
export function qrPayload(template: string, c: LabelContent): string {
  const values: Record<string, string> = {
    'unit.serial': c.serial ?? '',
    'unit.mac': c.mac ?? '',
    'unit.id': c.id,
    'unit.date': c.date,
    product: c.product,
    'image.version': c.version ?? '',
    station: c.station,
  };
  return template.replace(/\$\{([^}]*)\}/g, (all, name: string) => values[name] ?? all);
}

const fontOf = (s: TextStyle): Font => (s.font === 'large' ? LARGE : SMALL);

/** The glyph's cells at a scale. */
function glyphCells(g: Glyph, font: Font, scale: TextStyle['scale']): { bits: Uint8Array; w: number; h: number } {
  const h = font.height;
  if (scale === 1) return { bits: g.bits, w: g.width, h };
  if (scale === 2) return { bits: scale2x(g.bits, g.width, h), w: g.width * 2, h: h * 2 };
  if (scale === 4) return { bits: scale2x(scale2x(g.bits, g.width, h), g.width * 2, h * 2), w: g.width * 4, h: h * 4 };
  const w3 = g.width * 3;
  const bits = new Uint8Array(w3 * h * 3);
  for (let y = 0; y < h * 3; y++) for (let x = 0; x < w3; x++) bits[y * w3 + x] = g.bits[Math.floor(y / 3) * g.width + Math.floor(x / 3)]!;
  return { bits, w: w3, h: h * 3 };
}

function glyphOf(ch: string, font: Font): Glyph {
  return font.glyphs.get(font.capitalsOnly ? ch.toUpperCase() : ch) ?? font.fallback;
}

export function styledWidth(text: string, style: TextStyle): number {
  const font = fontOf(style);
  const chars = [...text];
  if (!chars.length) return 0;
  return (chars.reduce((w, ch) => w + glyphOf(ch, font).width, 0) + (chars.length - 1) * font.spacing) * style.scale;
}

export function styledHeight(style: TextStyle): number {
  return fontOf(style).height * style.scale;
}

/** Draw `text` with its top-left at (x, y); `on` false draws dark dots (on a black bar). */
export function drawStyled(fb: Framebuffer, x: number, y: number, text: string, style: TextStyle, on = true): void {
  const font = fontOf(style);
  let cx = x;
  for (const ch of text) {
    const cells = glyphCells(glyphOf(ch, font), font, style.scale);
    for (let yy = 0; yy < cells.h; yy++) for (let xx = 0; xx < cells.w; xx++) if (cells.bits[yy * cells.w + xx]) fb.setPixel(cx + xx, y + yy, on);
    cx += cells.w + font.spacing * style.scale;
  }
}

/** `text` alone, drawn in `style` at the top-left of a bitmap (tests compare a label's region with it). */
export function textBitmap(text: string, style: TextStyle): Framebuffer {
  const fb = new Framebuffer(Math.max(1, styledWidth(text, style)), Math.ceil(styledHeight(style) / 8) * 8);
  drawStyled(fb, 0, 0, text, style);
  return fb;
}

function fit(text: string, style: TextStyle, maxWidth: number): string {
  if (styledWidth(text, style) <= maxWidth) return text;
  const chars = [...text];
  while (chars.length && styledWidth(chars.join('') + ELLIPSIS, style) > maxWidth) chars.pop();
  return chars.join('') + ELLIPSIS;
}

const SERIAL_STYLES: TextStyle[] = [
  { font: 'large', scale: 2 },
  { font: 'small', scale: 4 },
  { font: 'small', scale: 3 },
  { font: 'large', scale: 1 },
  { font: 'small', scale: 2 },
  { font: 'small', scale: 1 },
];

/** Draw the label for one unit. Throws LabelError when the QR code or the serial cannot fit. */
export function renderLabel(t: LabelTemplate, c: LabelContent): RenderedLabel {
  const fb = new Framebuffer(t.width, t.height);
  const margin = Math.max(4, Math.round(t.height * 0.06));
  let top = margin;
  const lines: PlacedLine[] = [];
  if (c.kind === 'reject') {
    // a black bar with REJECT in white: told from a good label across the room
    const style = [{ font: 'large', scale: 2 } as const, { font: 'large', scale: 1 } as const].find((s) => styledWidth('REJECT', s) <= t.width - 2 * margin) ?? { font: 'small', scale: 1 };
    const barH = styledHeight(style) + margin;
    fb.fillRect(0, 0, t.width, barH);
    const w = styledWidth('REJECT', style);
    const x = Math.floor((t.width - w) / 2);
    const y = Math.floor((barH - styledHeight(style)) / 2);
    drawStyled(fb, x, y, 'REJECT', style, false);
    lines.push({ field: 'banner', text: 'REJECT', x, y, width: w, height: styledHeight(style), style });
    top = barH + Math.floor(margin / 2);
  }
  const areaH = t.height - top - margin;

  // QR code: the largest whole-dot module that fits the height and 40 % of the width
  const payload = c.kind === 'reject' && !c.serial ? c.id : qrPayload(t.qr, c);
  const qr = makeQr(payload, t.qrEcc);
  const n = qr.getModuleCount();
  const s = Math.floor(Math.min(areaH, t.width * 0.4) / n);
  if (s < 2) throw new LabelError('QR_TOO_BIG', `label.qr: a QR code of ${n} modules ("${payload.slice(0, 40)}") needs ${2 * n} dots, the label has ${Math.min(areaH, Math.floor(t.width * 0.4))}: shorten the payload, lower qr_ecc or use a larger label`);
  const qx = margin;
  const qy = top + Math.floor((areaH - n * s) / 2);
  for (let r = 0; r < n; r++) for (let col = 0; col < n; col++) if (qr.isDark(r, col)) fb.fillRect(qx + col * s, qy + r * s, s, s);

  // text beside it, clear of the QR code's quiet zone
  const tx = qx + n * s + Math.max(margin, 2 * s);
  const tw = t.width - margin - tx;
  const texts = textLines(t, c);
  if (!texts.length || tw < styledWidth('0000', { font: 'small', scale: 1 })) throw new LabelError('LABEL_TOO_SMALL', `label: no room for text beside a ${n * s}-dot QR code on a ${t.width}-dot label`);
  const placed = layout(texts, tw, areaH);
  if (!placed) throw new LabelError('LABEL_TOO_SMALL', `label: ${texts.length} text lines do not fit ${areaH} dots`);
  const blockH = placed.reduce((h, p, i) => h + p.height + (i ? p.gap : 0), 0);
  let y = top + Math.floor((areaH - blockH) / 2);
  placed.forEach((p, i) => {
    if (i) y += p.gap;
    drawStyled(fb, tx, y, p.text, p.style);
    lines.push({ field: p.field, text: p.text, x: tx, y, width: styledWidth(p.text, p.style), height: p.height, style: p.style });
    y += p.height;
  });
  return { image: fb, lines, qr: { x: qx, y: qy, moduleSize: s, modules: n, payload } };
}

function makeQr(payload: string, ecc: QrEcc): ReturnType<typeof qrcode> {
  const qr = qrcode(0, ecc);
  // Alphanumeric mode (upper-case serials, numbers, URLs in capitals) packs 5.5 bits a character;
  // anything else goes as UTF-8 bytes (the library maps a character to one byte, so hand it bytes).
  if (/^[0-9A-Z $%*+\-./:]*$/.test(payload)) qr.addData(payload, 'Alphanumeric');
  else qr.addData(Buffer.from(payload, 'utf8').toString('latin1'), 'Byte');
  try {
    qr.make();
  } catch (err) {
    // the library throws strings ("code length overflow")
    throw new LabelError('QR_TOO_BIG', `label.qr: "${payload.slice(0, 40)}" does not fit a QR code (${String(err)})`);
  }
  return qr;
}

interface TextLine {
  field: PlacedLine['field'];
  text: string;
  /** The serial: the largest style that fits. */
  hero: boolean;
}

function textLines(t: LabelTemplate, c: LabelContent): TextLine[] {
  const out: TextLine[] = [];
  const has = (f: LabelField) => t.fields.includes(f);
  if (c.kind === 'reject') {
    out.push({ field: 'serial', text: c.serial ?? 'NO SERIAL', hero: true });
    if (c.reason) out.push({ field: 'reason', text: c.reason, hero: false });
    if (c.step) out.push({ field: 'step', text: c.step, hero: false });
  }
  for (const f of t.fields) {
    if (c.kind === 'reject' && (f === 'serial' || f === 'mac' || f === 'product' || f === 'version')) continue;
    if (f === 'serial' && c.serial) out.push({ field: f, text: c.serial, hero: true });
    else if (f === 'mac' && c.mac) out.push({ field: f, text: c.mac, hero: false });
    else if (f === 'product') out.push({ field: f, text: has('version') && c.version ? `${c.product} v${c.version}` : c.product, hero: false });
    else if (f === 'version' && c.version && !has('product')) out.push({ field: f, text: `v${c.version}`, hero: false });
    else if (f === 'date') out.push({ field: f, text: c.date, hero: false });
    else if (f === 'station') out.push({ field: f, text: c.station, hero: false });
  }
  return out;
}

/**
 * Sizes for the lines: the serial in the largest style that fits the width, the others in the
 * largest common scale whose lines fit the height (each line cut with an ellipsis at the last
 * resort). Undefined if even the smallest does not fit.
 */
function layout(lines: TextLine[], width: number, height: number): (TextLine & { style: TextStyle; height: number; gap: number })[] | undefined {
  const heroes = SERIAL_STYLES.filter((s) => lines.every((l) => !l.hero || styledWidth(l.text, s) <= width));
  for (const hero of heroes.length ? heroes : [SERIAL_STYLES.at(-1)!]) {
    for (const scale of [3, 2, 1] as const) {
      const style: TextStyle = { font: 'small', scale };
      if (scale > 1 && lines.some((l) => !l.hero && styledWidth(l.text, style) > width)) continue;
      const placed = lines.map((l) => {
        const st = l.hero ? hero : style;
        return { ...l, text: fit(l.text, st, width), style: st, height: styledHeight(st), gap: 2 * scale + 1 };
      });
      const total = placed.reduce((h, p, i) => h + p.height + (i ? p.gap : 0), 0);
      if (total <= height) return placed;
    }
  }
  return undefined;
}
