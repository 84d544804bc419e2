/**
 * kiln's one YAML reader: the subset its files need, and no more — the agent's config file
 * (`kiln agent start --config`) and deploy files (`kiln plan|apply`). Block mappings and sequences
 * (sequences of mappings too: `- model: cnn`), flow collections on one line (`[5, 20, 100]`,
 * `{failedPercent: 20, minDevices: 5}`), plain / 'single' / "double" quoted scalars, numbers (hex
 * too), booleans, null, comments. Anchors, aliases, tags, block scalars, directives and multiple
 * documents are refused with their line, so a file never means something other than it reads.
 *
 * The line of every value is kept by path, so that a caller can report a problem as
 * `deploy.yaml:12: deployments[0].strategy.steps: …`. Pure; no dependencies.
 */

/** What kind of problem a YamlError is, so that a caller can add its own advice without reading the text. */
export type YamlErrorCode = 'syntax' | 'tabs' | 'unsupported' | 'duplicate-key' | 'multiple-documents';

export class YamlError extends Error {
  override name = 'YamlError';
  constructor(
    /** What was wrong, without the line. */
    readonly reason: string,
    /** 1-based. */
    readonly line: number,
    readonly code: YamlErrorCode = 'syntax',
  ) {
    super(`line ${line}: ${reason}`);
  }
}

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

export interface YamlDocument {
  value: YamlValue;
  /** Line (1-based) of every value and key, by path: '' (the document), 'deployments', 'deployments[0].model'. */
  lines: ReadonlyMap<string, number>;
  /** A scalar's source text as written (before typing), by path: `version: 2.0` keeps '2.0'. */
  raw: ReadonlyMap<string, string>;
}

/** `a` + key → `a.key`; `a` + 0 → `a[0]`. */
export const joinPath = (base: string, key: string | number): string => (typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key);

/** The line of `path`, or of its nearest ancestor that has one. */
export function lineOf(doc: Pick<YamlDocument, 'lines'>, path: string): number | undefined {
  for (let p = path; ;) {
    const line = doc.lines.get(p);
    if (line !== undefined) return line;
    if (!p) return undefined;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut <= 0 ? '' : p.slice(0, cut);
  }
}

interface Line {
  no: number;
  indent: number;
  text: string;
}

/** Strip a trailing comment (a # at the start or after whitespace, outside quotes). */
function stripComment(s: string): string {
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || s[i - 1] === ' ' || s[i - 1] === '\t')) return s.slice(0, i);
  }
  return s;
}

function plainScalar(s: string, no: number): YamlValue {
  if (s === '' || s === '~' || /^(null|Null|NULL)$/.test(s)) return null;
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new YamlError(`unterminated "string": ${s}`, no);
    try {
      return JSON.parse(s) as string;
    } catch {
      throw new YamlError(`bad escape in ${s}`, no);
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new YamlError(`unterminated 'string': ${s}`, no);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (/^[&*!|>]/.test(s)) throw new YamlError(`'${s[0]}' (anchors, aliases, tags and block scalars) is not supported: write the value out`, no, 'unsupported');
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?(\d[\d_]*)(\.\d+)?([eE][-+]?\d+)?$/.test(s)) return Number(s.replace(/_/g, ''));
  if (/^0x[0-9a-fA-F]+$/.test(s)) return Number(s);
  return s;
}

/** A one-line flow collection or scalar: `[5, 20, 100]`, `{a: 1, b: [x, y]}`, `"x"`, `'it''s'`, `10m`. */
function flowValue(text: string, no: number, path: string, lines: Map<string, number>, raw: Map<string, string>): YamlValue {
  let i = 0;
  const ws = () => {
    while (text[i] === ' ') i++;
  };
  const scalarUntil = (stops: string): string => {
    const start = i;
    if (text[i] === '"' || text[i] === "'") {
      const q = text[i++];
      for (;;) {
        if (i >= text.length) throw new YamlError(`unterminated string in ${text}`, no);
        if (text[i] === '\\' && q === '"') i += 2;
        else if (text[i] === "'" && q === "'" && text[i + 1] === "'")
          i += 2; // '' is a ' inside 'single quotes'
        else if (text[i] === q) break;
        else i++;
      }
      i++;
      return text.slice(start, i);
    }
    while (i < text.length && !stops.includes(text[i])) i++;
    return text.slice(start, i).trim();
  };
  const value = (p: string, stops: string): YamlValue => {
    ws();
    lines.set(p, no);
    if (text[i] === '[') {
      i++;
      const out: YamlValue[] = [];
      ws();
      if (text[i] === ']') return (i++, out);
      for (;;) {
        out.push(value(joinPath(p, out.length), ',]'));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, out);
        else throw new YamlError(`expected ',' or ']' in ${text}`, no);
      }
    }
    if (text[i] === '{') {
      i++;
      const out: Record<string, YamlValue> = {};
      ws();
      if (text[i] === '}') return (i++, out);
      for (;;) {
        ws();
        const keyText = scalarUntil(':,}');
        if (text[i] !== ':') throw new YamlError(`expected 'key: value' in ${text}`, no);
        i++;
        const key = String(plainScalar(keyText, no));
        if (Object.prototype.hasOwnProperty.call(out, key)) throw new YamlError(`key '${key}' appears twice`, no, 'duplicate-key');
        out[key] = value(joinPath(p, key), ',}');
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, out);
        else throw new YamlError(`expected ',' or '}' in ${text}`, no);
      }
    }
    const s = scalarUntil(stops);
    raw.set(p, s);
    return plainScalar(s, no);
  };
  const v = value(path, '');
  ws();
  if (i < text.length) throw new YamlError(`unexpected '${text.slice(i)}' after ${text.slice(0, i).trim()}`, no);
  return v;
}

/** `key: rest` → [key, rest], or undefined when the text is not a mapping entry. */
function splitKey(text: string, no: number): [string, string] | undefined {
  if (text.startsWith('"') || text.startsWith("'")) {
    const end = text.indexOf(text[0], 1);
    if (end === -1 || text[end + 1] !== ':') return undefined;
    return [String(plainScalar(text.slice(0, end + 1), no)), text.slice(end + 2).trim()];
  }
  if (text.startsWith('[') || text.startsWith('{')) return undefined;
  const m = /^([^\s:#][^:]*?):(?:\s+|$)/.exec(text);
  return m ? [m[1], text.slice(m[0].length).trim()] : undefined;
}

/** Parse a YAML document (the subset above), with the line of every value. Throws YamlError with the line. */
export function parseYamlDocument(text: string): YamlDocument {
  const all: Line[] = [];
  text.split(/\r?\n/).forEach((source, i) => {
    const no = i + 1;
    if (/\t/.test(source.match(/^\s*/)![0])) throw new YamlError('tabs are not allowed for indentation: use spaces', no, 'tabs');
    const body = stripComment(source).trimEnd();
    if (!body.trim()) return;
    if (body === '---' && all.length === 0) return;
    if (body === '---' || body === '...') throw new YamlError('multiple documents are not supported', no, 'multiple-documents');
    if (body.startsWith('%')) throw new YamlError('directives are not supported', no, 'unsupported');
    all.push({ no, indent: body.length - body.trimStart().length, text: body.trim() });
  });
  const lines = new Map<string, number>();
  const raw = new Map<string, string>();
  if (!all.length) return { value: null, lines, raw };
  let pos = 0;
  const isItem = (l: Line) => l.text === '-' || l.text.startsWith('- ');

  const block = (indent: number, path: string): YamlValue => {
    const first = all[pos];
    lines.set(path, lines.get(path) ?? first.no);
    if (isItem(first)) {
      const items: YamlValue[] = [];
      while (pos < all.length && all[pos].indent === indent && isItem(all[pos])) {
        const l = all[pos];
        const itemPath = joinPath(path, items.length);
        const rest = l.text.slice(1).trimStart();
        lines.set(itemPath, l.no);
        if (rest === '') {
          pos++;
          items.push(pos < all.length && all[pos].indent > indent ? block(all[pos].indent, itemPath) : null);
        } else if (splitKey(rest, l.no) || rest.startsWith('- ')) {
          // `- key: value` (or `- - x`): the item is a block whose first line starts after the dash.
          all[pos] = { no: l.no, indent: l.indent + (l.text.length - rest.length), text: rest };
          items.push(block(all[pos].indent, itemPath));
        } else {
          pos++;
          items.push(flowValue(rest, l.no, itemPath, lines, raw));
        }
      }
      return items;
    }
    const map: Record<string, YamlValue> = {};
    while (pos < all.length && all[pos].indent === indent) {
      const l = all[pos];
      if (isItem(l)) throw new YamlError('a list item ("- …") where a "key: value" was expected', l.no);
      const kv = splitKey(l.text, l.no);
      if (!kv) throw new YamlError(`expected "key: value", got '${l.text}'`, l.no);
      const [key, rest] = kv;
      if (Object.prototype.hasOwnProperty.call(map, key)) throw new YamlError(`key '${key}' appears twice`, l.no, 'duplicate-key');
      const p = joinPath(path, key);
      lines.set(p, l.no);
      pos++;
      if (rest !== '') map[key] = flowValue(rest, l.no, p, lines, raw);
      else if (pos < all.length && all[pos].indent > indent) map[key] = block(all[pos].indent, p);
      else if (pos < all.length && all[pos].indent === indent && isItem(all[pos])) map[key] = block(indent, p);
      else map[key] = null;
    }
    return map;
  };

  const value = block(all[0].indent, '');
  if (pos < all.length) throw new YamlError(`unexpected indentation (${all[pos].indent} spaces) at '${all[pos].text}'`, all[pos].no);
  return { value, lines, raw };
}

/** Parse a YAML document (the subset above) into plain values. Throws YamlError with the line. */
export const parseYaml = (text: string): YamlValue => parseYamlDocument(text).value;
