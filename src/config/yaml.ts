import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';

/** A parsed YAML file that can tell the line of any field, for error messages. */
export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  static parse(text: string, file: string): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const source = new YamlSource(file, doc, lines);
    if (doc.errors.length) {
      throw new ConfigError(
        doc.errors.map((e) => {
          const pos = lines.linePos(e.pos[0]);
          return { file, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` };
        }),
      );
    }
    return source;
  }

  static async load(file: string): Promise<YamlSource> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ file, path: '', message: `cannot read: ${(err as Error).message}` }], { cause: err });
    }
    return YamlSource.parse(text, file);
  }

  get value(): unknown {
    return this.doc.toJS();
  }

  /** The line/column of the deepest existing node on `path`. */
  locate(path: readonly PropertyKey[]): { line?: number; column?: number } {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return {};
  }

  issue(path: readonly PropertyKey[], message: string): ConfigIssue {
    return { file: this.file, ...this.locate(path), path: dottedPath(path), message };
  }

  /** Validate against a zod schema; every issue at once, each with file, line and field. */
  validate<S extends z.ZodType>(schema: S): z.output<S> {
    const result = schema.safeParse(this.value);
    if (result.success) return result.data;
    throw new ConfigError(result.error.issues.map((i) => this.issue(i.path, i.message)));
  }
}

export function dottedPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}
