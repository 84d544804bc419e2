/**
 * The YAML the agent's config file needs, and no more: block mappings, block sequences of scalars,
 * flow sequences of scalars (`[a, b]`), plain / 'single' / "double" quoted scalars, numbers,
 * booleans, null, comments. Anchors, aliases, tags, block scalars and multiple documents are
 * refused with the line number, so a config never means something other than it reads.
 */

export class YamlError extends Error {
  override name = 'YamlError';
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  no: number;
  indent: number;
  text: string;
}

/** Strip a trailing comment (a # after whitespace, outside quotes). */
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

function scalar(raw: string, no: number): YamlValue {
  const s = raw.trim();
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s.startsWith('"')) {
    if (!s.endsWith('"') || s.length < 2) throw new YamlError(`unterminated "string"`, no);
    try {
      return JSON.parse(s) as string;
    } catch {
      throw new YamlError(`bad escape in ${s}`, no);
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw new YamlError(`unterminated 'string'`, no);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw new YamlError(`unterminated [flow sequence]`, no);
    const inner = s.slice(1, -1).trim();
    if (!inner) return [];
    return splitFlow(inner, no).map((x) => {
      const v = scalar(x, no);
      if (typeof v === 'object' && v !== null) throw new YamlError('nested collections in a flow sequence are not supported', no);
      return v;
    });
  }
  if (/^[&*!|>{]/.test(s)) throw new YamlError(`'${s[0]}' (anchors, aliases, tags, block scalars, flow mappings) is not supported in the agent config`, no);
  if (/^(true|True|TRUE)$/.test(s)) return true;
  if (/^(false|False|FALSE)$/.test(s)) return false;
  if (/^[-+]?(\d[\d_]*)(\.\d+)?([eE][-+]?\d+)?$/.test(s)) return Number(s.replace(/_/g, ''));
  if (/^0x[0-9a-fA-F]+$/.test(s)) return Number(s);
  return s;
}

function splitFlow(s: string, no: number): string[] {
  const out: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') throw new YamlError('nested collections in a flow sequence are not supported', no);
    else if (c === ',') {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (quote) throw new YamlError('unterminated string in a flow sequence', no);
  out.push(s.slice(start));
  return out;
}

/** `key: rest` → [key, rest], or undefined when the line is not a mapping entry. */
function splitKey(text: string, no: number): [string, string] | undefined {
  let key: string;
  let rest: string;
  if (text.startsWith('"') || text.startsWith("'")) {
    const end = text.indexOf(text[0], 1);
    if (end === -1 || text[end + 1] !== ':') return undefined;
    key = scalar(text.slice(0, end + 1), no) as string;
    rest = text.slice(end + 2);
  } else {
    const m = /^([^\s:][^:]*?):(\s|$)/.exec(text);
    if (!m) return undefined;
    key = m[1];
    rest = text.slice(m[0].length);
  }
  return [key, rest];
}

/** Parse a YAML document (the subset above) into plain values. */
export function parseYaml(text: string): YamlValue {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const no = i + 1;
    if (/^\t| \t/.test(raw.match(/^\s*/)![0])) throw new YamlError('tabs are not allowed for indentation', no);
    const body = stripComment(raw).trimEnd();
    if (!body.trim()) return;
    if (body === '---' && lines.length === 0) return;
    if (body === '---' || body === '...') throw new YamlError('multiple documents are not supported', no);
    if (/^%/.test(body)) throw new YamlError('directives are not supported', no);
    lines.push({ no, indent: body.length - body.trimStart().length, text: body.trim() });
  });
  if (!lines.length) return null;
  let pos = 0;

  const block = (indent: number): YamlValue => {
    const first = lines[pos];
    if (first.text.startsWith('- ') || first.text === '-') {
      const items: YamlValue[] = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text.startsWith('- ') || lines[pos].text === '-')) {
        const l = lines[pos++];
        const rest = l.text.slice(1).trim();
        if (rest === '') {
          if (pos < lines.length && lines[pos].indent > indent) items.push(block(lines[pos].indent));
          else items.push(null);
        } else if (splitKey(rest, l.no)) throw new YamlError('mappings inside sequences are not supported in the agent config', l.no);
        else items.push(scalar(rest, l.no));
      }
      return items;
    }
    const map: Record<string, YamlValue> = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const l = lines[pos];
      if (l.text.startsWith('- ')) throw new YamlError('a sequence item where a "key: value" was expected', l.no);
      const kv = splitKey(l.text, l.no);
      if (!kv) throw new YamlError(`expected "key: value", got '${l.text}'`, l.no);
      const [key, rest] = kv;
      if (Object.prototype.hasOwnProperty.call(map, key)) throw new YamlError(`key '${key}' appears twice`, l.no);
      pos++;
      if (rest.trim() === '') {
        if (pos < lines.length && lines[pos].indent > indent) map[key] = block(lines[pos].indent);
        else if (pos < lines.length && lines[pos].indent === indent && lines[pos].text.startsWith('- ')) map[key] = block(indent);
        else map[key] = null;
      } else map[key] = scalar(rest, l.no);
    }
    return map;
  };

  const value = block(lines[0].indent);
  if (pos < lines.length) throw new YamlError('unexpected indentation', lines[pos].no);
  return value;
}
