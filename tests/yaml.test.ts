/**
 * kiln's one YAML reader (src/yaml.ts), for what both of its users need at once: the agent's config
 * (config.test.ts) and deploy files with the line of every value (cloud/declarative.test.ts). Here:
 * the syntax that only one of the two former parsers read, and the error codes callers rely on.
 */
import { describe, expect, it } from 'vitest';
import { lineOf, parseYaml, parseYamlDocument, YamlError } from '../src/yaml.js';

describe('YAML subset', () => {
  it("reads 'it''s' and hex numbers in flow collections as in block values", () => {
    expect(parseYaml("name: 'it''s'\nlist: ['it''s', \"a, b\", 0x1F]\nmask: 0xff")).toEqual({ name: "it's", list: ["it's", 'a, b', 31], mask: 255 });
  });

  it('reads sequences of mappings, nested sequences, flow mappings and "quoted":keys', () => {
    expect(parseYaml('models:\n  - name: cnn\n    weights: {"1.0.0": 70, 2.0.0: 30}\n  - - a\n    - b\n"k":v')).toEqual({
      models: [{ name: 'cnn', weights: { '1.0.0': 70, '2.0.0': 30 } }, ['a', 'b']],
      k: 'v',
    });
  });

  it('keeps the line of every value and its text as written', () => {
    const doc = parseYamlDocument('# a comment\na:\n  - b: 2.0\n    c: [1, 2]\n');
    expect(doc.lines.get('a[0].c[1]')).toBe(4);
    expect(doc.raw.get('a[0].b')).toBe('2.0');
    expect(lineOf(doc, 'a[0].nope.deeper')).toBe(3);
    expect(lineOf(parseYamlDocument(''), 'x')).toBeUndefined();
  });

  it('BAD CALL: each refusal is a YamlError with its line, reason and code', () => {
    const caught = (text: string): YamlError => {
      try {
        parseYaml(text);
      } catch (err) {
        expect(err).toBeInstanceOf(YamlError);
        return err as YamlError;
      }
      throw new Error(`expected ${JSON.stringify(text)} to be refused`);
    };
    expect(caught('a: 1\n\tb: 2')).toMatchObject({ line: 2, code: 'tabs', message: 'line 2: tabs are not allowed for indentation: use spaces' });
    expect(caught('a: 1\n---\nb: 2')).toMatchObject({ line: 2, code: 'multiple-documents', reason: 'multiple documents are not supported' });
    expect(caught('a: &x 1')).toMatchObject({ line: 1, code: 'unsupported', reason: expect.stringMatching(/anchors, aliases/) });
    expect(caught('%YAML 1.2\na: 1')).toMatchObject({ line: 1, code: 'unsupported' });
    expect(caught('a: {b: 1, b: 2}')).toMatchObject({ line: 1, code: 'duplicate-key' });
    expect(caught("a: 'open")).toMatchObject({ line: 1, code: 'syntax', reason: expect.stringMatching(/unterminated/) });
    expect(caught('a:\n  b: 1\n c: 2')).toMatchObject({ line: 3, reason: expect.stringMatching(/unexpected indentation|expected "key: value"/) });
  });
});
