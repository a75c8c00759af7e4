import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
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

  /** The line/column of the key `key` in the mapping at `path` (where a misspelled key is written). */
  locateKey(path: readonly PropertyKey[], key: string): { line?: number; column?: number } {
    const map = path.length === 0 ? this.doc.contents : this.doc.getIn(path as unknown[], true);
    if (isMap(map)) {
      for (const pair of map.items) {
        if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) {
          const pos = this.lines.linePos(pair.key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
    }
    return this.locate(path);
  }

  issue(path: readonly PropertyKey[], message: string): ConfigIssue {
    return { file: this.file, ...this.locate(path), path: dottedPath(path), message };
  }

  /**
   * zod's issues as ConfigIssues, for a value found at `prefix` in this file. An unknown key is
   * reported once per key, at the line of the key itself (zod puts it on the enclosing object).
   */
  issuesOf(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ConfigIssue[] {
    return issues.flatMap((i): ConfigIssue[] => {
      const path = [...prefix, ...i.path];
      if (i.code === 'unrecognized_keys') {
        return i.keys.map((key) => ({ file: this.file, ...this.locateKey(path, key), path: dottedPath([...path, key]), message: `unknown key "${key}"` }));
      }
      return [this.issue(path, i.message)];
    });
  }

  /** Validate against a zod schema; every issue at once, each with file, line and field. */
  validate<S extends z.ZodType>(schema: S): z.output<S> {
    const result = schema.safeParse(this.value);
    if (result.success) return result.data;
    throw new ConfigError(this.issuesOf(result.error.issues));
  }
}

export function dottedPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}
