/**
 * NumPy `.npy` files, pure over bytes: header parsing (format versions 1.0, 2.0 and 3.0) and an
 * encoder that writes what `numpy.save` writes (byte for byte, numpy ≥ 1.23 header padding).
 *
 * Supported: little-endian (or byte-order-free) numeric and bool dtypes in C order —
 * `<f2 <f4 <f8 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 |b1`. Fortran order, big-endian data, structured
 * and object arrays are refused with an error that says how to re-save the array.
 *
 * The format: `\x93NUMPY`, major and minor version bytes, the header length (uint16 LE for 1.0,
 * uint32 LE for 2.0/3.0), then a Python dict literal (latin1; utf8 for 3.0) padded with spaces and
 * a final newline so that the data starts at a multiple of 64 bytes.
 */
import { KilnError } from '../errors.js';
import { typedArrayFor, dtypeFromShort, type NumericArray } from '../onnx/dtypes.js';

/** The element types kiln reads from and writes to .npy files (onnxruntime-style names). */
export type NpyDType = 'float16' | 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

/** numpy type code (without byte order) → dtype and item size. */
const CODES: Readonly<Record<string, { dtype: NpyDType; size: number }>> = Object.freeze({
  f2: { dtype: 'float16', size: 2 },
  f4: { dtype: 'float32', size: 4 },
  f8: { dtype: 'float64', size: 8 },
  i1: { dtype: 'int8', size: 1 },
  i2: { dtype: 'int16', size: 2 },
  i4: { dtype: 'int32', size: 4 },
  i8: { dtype: 'int64', size: 8 },
  u1: { dtype: 'uint8', size: 1 },
  u2: { dtype: 'uint16', size: 2 },
  u4: { dtype: 'uint32', size: 4 },
  u8: { dtype: 'uint64', size: 8 },
  b1: { dtype: 'bool', size: 1 },
});

/** The descr numpy writes for each dtype. */
const DESCR: Readonly<Record<NpyDType, string>> = Object.freeze({
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  uint16: '<u2',
  uint32: '<u4',
  uint64: '<u8',
  bool: '|b1',
});

export const NPY_DTYPES: readonly NpyDType[] = Object.freeze(Object.keys(DESCR) as NpyDType[]);
const SUPPORTED_DESCRS = Object.keys(CODES)
  .map((c) => (CODES[c].size === 1 ? `|${c}` : `<${c}`))
  .join(' ');

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Bytes to read to learn where the header ends: magic, version, and a header length of up to 4 bytes. */
export const NPY_PREFIX_BYTES = 12;
/** Headers longer than this are refused (numpy's own reader stops at 10 000 without allow_pickle). */
export const NPY_MAX_HEADER_BYTES = 100_000;
const ALIGN = 64;
/** numpy pads the header so that the leading dimension can grow to this many digits in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** An n-dimensional array as stored in a .npy file. `data` is the natural JS array for `dtype`. */
export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** float16 as Uint16Array bits, bool as Uint8Array, int64/uint64 as BigInt64Array/BigUint64Array. */
  data: NumericArray;
}

export interface NpyHeader {
  version: readonly [number, number];
  /** The dtype string as written, e.g. '<f4'. */
  descr: string;
  dtype: NpyDType;
  shape: number[];
  /** Where the array data starts (magic + length field + header). */
  dataOffset: number;
  /** Bytes of array data the header announces. */
  dataBytes: number;
}

const bad = (source: string, what: string, hint?: string): KilnError =>
  new KilnError('CALIBRATION_DATA', `${source}: ${what}`, { hint: hint ?? 'save the array with numpy.save (a .npy file, not .npz or pickle)' });

/**
 * Where the array data starts, from the first bytes of a file (at least 10; 12 for format 2.0/3.0).
 * Throws when the bytes are not a .npy file.
 */
export function npyDataOffset(prefix: Uint8Array, source = 'npy'): number {
  if (prefix.length < 10 || MAGIC.some((b, i) => prefix[i] !== b)) {
    throw bad(source, 'not a NumPy .npy file (it does not start with \\x93NUMPY)');
  }
  const major = prefix[6];
  const minor = prefix[7];
  if (minor !== 0 || major < 1 || major > 3) {
    throw bad(source, `.npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`, 'save it again with numpy.save');
  }
  if (major === 1) return 10 + (prefix[8] | (prefix[9] << 8));
  if (prefix.length < 12) throw bad(source, 'the .npy file is truncated inside its header');
  return 12 + (prefix[8] | (prefix[9] << 8) | (prefix[10] << 16)) + prefix[11] * 2 ** 24;
}

/** Parse the header of a .npy file. `bytes` must hold the whole header (see npyDataOffset). */
export function parseNpyHeader(bytes: Uint8Array, source = 'npy'): NpyHeader {
  const dataOffset = npyDataOffset(bytes, source);
  const major = bytes[6];
  const start = major === 1 ? 10 : 12;
  if (dataOffset - start > NPY_MAX_HEADER_BYTES)
    throw bad(source, `the .npy header is ${dataOffset - start} bytes long, more than kiln reads (${NPY_MAX_HEADER_BYTES})`);
  if (bytes.length < dataOffset) throw bad(source, `the .npy file is truncated inside its header (${bytes.length} of ${dataOffset} bytes)`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, dataOffset));
  let dict: unknown;
  try {
    dict = parsePythonLiteral(text);
  } catch (err) {
    throw bad(source, `the .npy header is not a Python dict literal (${(err as Error).message}): ${JSON.stringify(text.trim())}`);
  }
  if (!(dict instanceof Map)) throw bad(source, `the .npy header is not a dict: ${JSON.stringify(text.trim())}`);
  const keys = [...dict.keys()].sort().join(', ');
  if (keys !== 'descr, fortran_order, shape') throw bad(source, `the .npy header has keys ${keys}; numpy writes exactly descr, fortran_order, shape`);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') {
    throw bad(
      source,
      'the array has a structured dtype (a record with fields), which kiln does not read',
      `save each field as its own array, with one of ${SUPPORTED_DESCRS}`,
    );
  }
  if (typeof fortran !== 'boolean') throw bad(source, `the .npy header's fortran_order is ${String(fortran)}, not True or False`);
  if (fortran) {
    throw bad(
      source,
      'the array is stored in Fortran (column-major) order, which kiln does not read',
      'save it in C order: numpy.save(path, numpy.ascontiguousarray(arr))',
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw bad(source, `the .npy header's shape ${JSON.stringify(shape)} is not a tuple of non-negative integers`);
  }
  const dtype = npyDType(descr, source);
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const dataBytes = count * CODES[descr.slice(1)].size;
  if (!Number.isSafeInteger(dataBytes)) throw bad(source, `the array shape (${shape.join(', ')}) is too large`);
  return { version: [major, 0], descr, dtype, shape: shape as number[], dataOffset, dataBytes };
}

function npyDType(descr: string, source: string): NpyDType {
  const order = descr[0];
  const code = CODES[descr.slice(1)];
  if (!code || !'<>|='.includes(order) || descr.length < 2) {
    throw bad(
      source,
      `the array's dtype '${descr}' is not supported (kiln reads ${SUPPORTED_DESCRS})`,
      'convert it first, e.g. numpy.save(path, arr.astype(numpy.float32))',
    );
  }
  if (order === '>' && code.size > 1) {
    throw bad(
      source,
      `the array is big-endian ('${descr}'), kiln reads little-endian data`,
      `save it little-endian: numpy.save(path, arr.astype('<${descr.slice(1)}'))`,
    );
  }
  return code.dtype;
}

/** Bytes per element of a dtype. */
export const npyItemSize = (dtype: NpyDType): number => CODES[DESCR[dtype].slice(1)].size;

/** Decode a whole .npy file. The data is copied into a fresh, aligned typed array. */
export function decodeNpy(bytes: Uint8Array, source = 'npy'): NpyArray {
  const header = parseNpyHeader(bytes, source);
  const available = bytes.length - header.dataOffset;
  if (available !== header.dataBytes) {
    throw bad(
      source,
      available < header.dataBytes
        ? `the .npy file is truncated: shape (${header.shape.join(', ')}) of ${header.descr} needs ${header.dataBytes} data bytes, the file has ${available}`
        : `the .npy file has ${available - header.dataBytes} bytes after the array data (shape (${header.shape.join(', ')}) of ${header.descr})`,
    );
  }
  const data = allocateNpy(header);
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes.subarray(header.dataOffset));
  return { dtype: header.dtype, shape: header.shape, data };
}

/** A zeroed typed array sized for the header's data (read the data bytes straight into its buffer). */
export function allocateNpy(header: NpyHeader): NumericArray {
  const count = header.shape.reduce((a, b) => a * b, 1);
  return typedArrayFor(dtypeFromShort(header.dtype), count);
}

/**
 * Encode an array as numpy.save would: format 1.0 (2.0 when the header needs it), C order, header
 * padded to 64 bytes including numpy's spare room for the leading dimension.
 */
export function encodeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  const descr = DESCR[dtype];
  if (!descr) throw new RangeError(`encodeNpy: dtype '${dtype}' is not one of ${NPY_DTYPES.join(', ')}`);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new RangeError(`encodeNpy: shape [${shape.join(', ')}] must hold non-negative integers`);
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = typedArrayFor(dtypeFromShort(dtype), 0).constructor;
  if (data.constructor !== expected) throw new TypeError(`encodeNpy: ${dtype} data must be a ${expected.name}, got ${data.constructor.name}`);
  if (data.length !== count) throw new RangeError(`encodeNpy: ${data.length} values for shape [${shape.join(', ')}] (${count} expected)`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  if (shape.length > 0) header += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const wrap = (lengthBytes: number): Uint8Array | undefined => {
    const hlen = header.length + 1;
    const pad = ALIGN - ((MAGIC.length + 2 + lengthBytes + hlen) % ALIGN); // numpy pads a full 64 when already aligned
    const total = hlen + pad;
    if (lengthBytes === 2 && total > 0xffff) return undefined;
    const prefix = 8 + lengthBytes;
    const out = new Uint8Array(prefix + total);
    out.set(MAGIC);
    out[6] = lengthBytes === 2 ? 1 : 2;
    for (let i = 0; i < lengthBytes; i++) out[8 + i] = Math.floor(total / 2 ** (8 * i)) & 0xff;
    for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
    out.fill(0x20, prefix + header.length, prefix + total - 1);
    out[prefix + total - 1] = 0x0a;
    return out;
  };
  const head = wrap(2) ?? wrap(4)!;
  const out = new Uint8Array(head.length + data.byteLength);
  out.set(head);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), head.length);
  return out;
}

// ---- a Python literal reader, just enough for .npy headers -------------------------------------

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/**
 * Parse a Python literal made of dicts, tuples, lists, strings, integers, True/False/None — what
 * numpy writes in a .npy header (Python 2 era `3L` integers included). Throws SyntaxError.
 */
export function parsePythonLiteral(text: string): PyValue {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const expect = (ch: string): void => {
    ws();
    if (text[i] !== ch) fail(`expected '${ch}'`);
    i++;
  };
  // Items separated by commas, an optional trailing comma, up to `close`.
  const items = (close: string, item: () => void): void => {
    ws();
    while (text[i] !== close) {
      if (i >= text.length) fail(`expected '${close}'`);
      item();
      ws();
      if (text[i] === ',') {
        i++;
        ws();
      } else if (text[i] !== close) fail(`expected ',' or '${close}'`);
    }
    i++;
  };
  const value = (): PyValue => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const map = new Map<string, PyValue>();
      items('}', () => {
        const key = value();
        if (typeof key !== 'string') fail('dict keys must be strings');
        expect(':');
        map.set(key as string, value());
      });
      return map;
    }
    if (ch === '(' || ch === '[') {
      i++;
      const list: PyValue[] = [];
      items(ch === '(' ? ')' : ']', () => list.push(value()));
      return list;
    }
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      if (s.includes('\\')) fail('escapes in strings are not supported');
      i = end + 1;
      return s;
    }
    const word = /^(?:True|False|None|-?\d+L?)/.exec(text.slice(i, i + 32))?.[0];
    if (!word) fail('unexpected character ' + JSON.stringify(ch ?? 'end of text'));
    i += word!.length;
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    const n = Number(word!.replace('L', ''));
    if (!Number.isSafeInteger(n)) fail(`integer ${word} is too large`);
    return n;
  };
  const result = value();
  ws();
  if (i !== text.length) fail('unexpected text after the literal');
  return result;
}
