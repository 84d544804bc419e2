import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

describe('the public surface (package "exports": src/index.ts)', () => {
  it('exposes each area as a namespace and the main entry points by name', () => {
    for (const ns of ['onnx', 'targets', 'numerics', 'compiler', 'runtime', 'protocol', 'zoo', 'bench', 'agent', 'importers'] as const) {
      expect(Object.keys(kiln[ns]).length, ns).toBeGreaterThan(3);
    }
    expect(typeof kiln.compileModel).toBe('function');
    expect(typeof kiln.startAgent).toBe('function');
    expect(typeof kiln.convertTfjsModel).toBe('function');
    expect(kiln.KILN_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(kiln.loadTarget('x86_64').name).toBe('x86_64');
    expect(new kiln.KilnError('BAD_OPTION', 'x').exitCode).toBe(2);
  });
});
