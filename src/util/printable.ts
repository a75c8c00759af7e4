/**
 * Text from outside (a file name on a stick, a volume label) made safe for one log line or the
 * OLED: control characters (C0, DEL, C1), line and paragraph separators and bidirectional
 * overrides become visible escapes, so a name can neither forge a log line nor hide its end.
 */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
