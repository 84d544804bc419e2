/** The .npy reader and writer: byte layout as numpy writes it, every supported dtype, and bad files. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, NPY_DTYPES, parseNpyHeader, parsePythonLiteral, type NpyDType } from '../../src/numerics/npy.js';
import { typedArrayFor, dtypeFromShort } from '../../src/onnx/dtypes.js';
import { expectKilnError, tempDir } from '../compiler/calibration-data-helpers.js';

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
const f32bytes = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

/** A header as numpy writes it: magic, version 1.0, uint16 LE length, dict padded with spaces and '\n' to `total` bytes. */
function handHeader(dict: string, total: number): Uint8Array {
  const body = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n';
  return concat(latin1('\x93NUMPY\x01\x00'), Uint8Array.of(body.length & 0xff, body.length >> 8), latin1(body));
}

describe('.npy format', () => {
  it('reads a header written by hand as numpy.save writes it, and the encoder writes the same bytes', () => {
    // numpy.save(f, numpy.arange(6, dtype=numpy.float32).reshape(2, 3)): 10 prefix bytes + 118
    // header bytes = 128, a multiple of 64.
    const header = handHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128);
    expect(header.length).toBe(128);
    expect([...header.subarray(0, 10)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
    const file = concat(header, f32bytes([0, 1, 2, 3, 4, 5]));

    const parsed = parseNpyHeader(file, 'hand.npy');
    expect(parsed).toMatchObject({ version: [1, 0], descr: '<f4', dtype: 'float32', shape: [2, 3], dataOffset: 128, dataBytes: 24 });
    const arr = decodeNpy(file, 'hand.npy');
    expect(arr.dtype).toBe('float32');
    expect(arr.shape).toEqual([2, 3]);
    expect([...arr.data]).toEqual([0, 1, 2, 3, 4, 5]);

    expect(encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) })).toEqual(file);
  });

  it('reads older and newer variants: 16-byte alignment, format 2.0 and 3.0, Python 2 long ints, 0-d and 1-d shapes', () => {
    // numpy before 1.14 aligned to 16 bytes
    const old = concat(handHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (3L,), }", 80), Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0, 255, 255, 255, 255));
    expect(decodeNpy(old)).toEqual({ dtype: 'int32', shape: [3], data: Int32Array.of(1, 2, -1) });

    const dict2 = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
    const body2 = dict2 + ' '.repeat(128 - 12 - dict2.length - 1) + '\n';
    const v2 = concat(latin1('\x93NUMPY\x02\x00'), Uint8Array.of(body2.length, 0, 0, 0), latin1(body2), new Uint8Array(Float64Array.of(2.5).buffer));
    expect(decodeNpy(v2)).toEqual({ dtype: 'float64', shape: [], data: Float64Array.of(2.5) });

    // 3.0 differs from 2.0 only in decoding the header as utf-8 (numpy uses it for non-latin1 field names)
    const dict3 = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }";
    const enc = new TextEncoder().encode(dict3 + ' '.repeat(128 - 12 - dict3.length - 1) + '\n');
    const v3 = concat(latin1('\x93NUMPY\x03\x00'), Uint8Array.of(enc.length, 0, 0, 0), enc, Uint8Array.of(7, 9));
    expect(decodeNpy(v3)).toEqual({ dtype: 'uint8', shape: [2], data: Uint8Array.of(7, 9) });
  });

  it('round-trips every supported dtype through the encoder', () => {
    for (const dtype of NPY_DTYPES) {
      const data = typedArrayFor(dtypeFromShort(dtype), 6);
      for (let i = 0; i < 6; i++)
        (data as unknown as (number | bigint)[])[i] =
          data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(i) : dtype === 'bool' ? i % 2 : i;
      const bytes = encodeNpy({ dtype, shape: [3, 2], data });
      expect(bytes.length % 64, dtype).toBe(data.byteLength % 64);
      expect(decodeNpy(bytes, dtype)).toEqual({ dtype, shape: [3, 2], data });
    }
  });

  it('pads a header that is already aligned with a full 64 bytes, as numpy does', () => {
    // 10 prefix bytes + this 117-byte dict (with numpy's 20 spare spaces for the leading dim) + '\n'
    // = 128: numpy adds 64 more spaces instead of none (checked against numpy 1.24: 192 bytes).
    const shape = [0, 1, 1, 1, 1, 1, 1, 1, 1, 111111111111111];
    const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}), }` + ' '.repeat(20);
    expect(dict.length).toBe(117);
    const bytes = encodeNpy({ dtype: 'uint8', shape, data: new Uint8Array(0) });
    expect(bytes.length).toBe(192);
    expect([...bytes.subarray(8, 10)]).toEqual([182, 0]);
    expect(new TextDecoder('latin1').decode(bytes.subarray(10))).toBe(dict + ' '.repeat(64) + '\n');
    expect(decodeNpy(bytes).shape).toEqual(shape);
  });

  it('parses Python literals the way numpy headers need', () => {
    expect(parsePythonLiteral("{'a': (1, 2,), \"b\": True, 'c': [None, -3]}")).toEqual(
      new Map<string, unknown>([
        ['a', [1, 2]],
        ['b', true],
        ['c', [null, -3]],
      ]),
    );
    expect(() => parsePythonLiteral("{'a': 1")).toThrow(SyntaxError);
    expect(() => parsePythonLiteral("{'a': 1} x")).toThrow(/after the literal/);
    expect(() => parsePythonLiteral("{'a': os.system('x')}")).toThrow(SyntaxError);
  });

  describe('BAD CALL - files kiln refuses, each with a hint', () => {
    const withHeader = (dict: string, data = new Uint8Array(0)): Uint8Array => concat(handHeader(dict, 128), data);

    it('not a .npy file at all (e.g. an .npz zip)', async () => {
      await expectKilnError(() => decodeNpy(latin1('PK\x03\x04 not npy'), 'x.npy'), 'CALIBRATION_DATA', /x\.npy: not a NumPy \.npy file/);
    });
    it('Fortran order', async () => {
      const k = await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), 'f.npy'),
        'CALIBRATION_DATA',
        /f\.npy: .*Fortran/,
      );
      expect(k.hint).toMatch(/ascontiguousarray/);
    });
    it('big-endian data', async () => {
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4))),
        'CALIBRATION_DATA',
        /big-endian \('>f4'\)/,
      );
    });
    it('unsupported dtypes: complex, strings, objects, structured', async () => {
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8))),
        'CALIBRATION_DATA',
        /'<c8' is not supported \(kiln reads .*<f4/,
      );
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }")),
        'CALIBRATION_DATA',
        /'<U3' is not supported/,
      );
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")),
        'CALIBRATION_DATA',
        /'\|O' is not supported/,
      );
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }")),
        'CALIBRATION_DATA',
        /structured dtype/,
      );
    });
    it('truncated data, extra data, truncated header, a newer format version', async () => {
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(8))),
        'CALIBRATION_DATA',
        /truncated: shape \(4\) of <f4 needs 16 data bytes, the file has 8/,
      );
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8))),
        'CALIBRATION_DATA',
        /4 bytes after the array data/,
      );
      await expectKilnError(
        () => decodeNpy(handHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 128).subarray(0, 40)),
        'CALIBRATION_DATA',
        /truncated inside its header/,
      );
      await expectKilnError(() => decodeNpy(latin1('\x93NUMPY\x04\x00\x10\x00')), 'CALIBRATION_DATA', /version 4\.0 is not supported/);
      await expectKilnError(
        () => decodeNpy(latin1('\x93NUMPY\x02\x00\xf0\xff\xff\xff{')),
        'CALIBRATION_DATA',
        /the \.npy header is 4294967280 bytes long, more than kiln reads/,
      );
    });
    it('a header that is not the dict numpy writes', async () => {
      await expectKilnError(() => decodeNpy(withHeader("{'descr': '<f4', 'shape': (1,), }")), 'CALIBRATION_DATA', /keys descr, shape/);
      await expectKilnError(
        () => decodeNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")),
        'CALIBRATION_DATA',
        /not a tuple of non-negative integers/,
      );
      await expectKilnError(() => decodeNpy(withHeader('__import__("os")')), 'CALIBRATION_DATA', /not a Python dict literal/);
    });
  });
});

const hasNumpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const numpyIt = hasNumpy ? it : it.skip;

describe('.npy files from real numpy', () => {
  numpyIt(
    hasNumpy
      ? 'reads what numpy.save writes, writes byte-identical files, and numpy reads them back'
      : 'numpy interop — SKIPPED: /usr/bin/python3 cannot import numpy; install python3-numpy to run it',
    () => {
      const dir = tempDir();
      const cases: { name: string; expr: string; dtype: NpyDType; shape: number[]; values: (number | bigint)[] }[] = [
        { name: 'f4', expr: 'np.array([[0.5, -1.25, 3], [4, 5, 6]], np.float32)', dtype: 'float32', shape: [2, 3], values: [0.5, -1.25, 3, 4, 5, 6] },
        { name: 'f8', expr: 'np.array([1e-300, -2.5], np.float64)', dtype: 'float64', shape: [2], values: [1e-300, -2.5] },
        { name: 'f2', expr: 'np.array([1.0, -2.0, 0.5], np.float16)', dtype: 'float16', shape: [3], values: [0x3c00, 0xc000, 0x3800] },
        { name: 'i8', expr: 'np.array([[-9007199254740993, 7]], np.int64)', dtype: 'int64', shape: [1, 2], values: [-9007199254740993n, 7n] },
        { name: 'i4', expr: 'np.array([-1, 2**31-1], np.int32)', dtype: 'int32', shape: [2], values: [-1, 2 ** 31 - 1] },
        {
          name: 'u1',
          expr: 'np.arange(24, dtype=np.uint8).reshape(2, 3, 4)',
          dtype: 'uint8',
          shape: [2, 3, 4],
          values: Array.from({ length: 24 }, (_, i) => i),
        },
        { name: 'b1', expr: 'np.array([True, False, True])', dtype: 'bool', shape: [3], values: [1, 0, 1] },
        { name: 'scalar', expr: 'np.array(3.5, np.float32)', dtype: 'float32', shape: [], values: [3.5] },
        { name: 'long', expr: 'np.zeros((123456789012, 0), np.float32)', dtype: 'float32', shape: [123456789012, 0], values: [] },
      ];
      const script = ['import numpy as np', ...cases.map((c) => `np.save(${JSON.stringify(join(dir, `${c.name}.npy`))}, ${c.expr})`)].join('\n');
      execFileSync('/usr/bin/python3', ['-c', script]);
      for (const c of cases) {
        const bytes = readFileSync(join(dir, `${c.name}.npy`));
        const arr = decodeNpy(bytes, c.name);
        expect(arr.dtype, c.name).toBe(c.dtype);
        expect(arr.shape, c.name).toEqual(c.shape);
        expect([...arr.data], c.name).toEqual(c.values);
        const ours = encodeNpy(arr);
        expect(Buffer.from(ours).equals(bytes), `${c.name}: kiln's bytes equal numpy's`).toBe(true);
        writeFileSync(join(dir, `ours-${c.name}.npy`), ours);
      }
      // and numpy loads kiln's files to the same arrays
      const check = cases
        .map(
          (c) =>
            `assert (lambda a, b: a.dtype == b.dtype and a.shape == b.shape and (a == b).all())(np.load(${JSON.stringify(join(dir, `ours-${c.name}.npy`))}), ${c.expr}), ${JSON.stringify(c.name)}`,
        )
        .join('\n');
      execFileSync('/usr/bin/python3', ['-c', `import numpy as np\n${check}\nprint('ok')`]);
    },
  );
});
