/**
 * The agent's configuration: defaults with no file, flags > KILN_AGENT_* env > YAML file > defaults,
 * unknown keys and bad values rejected all at once, and the YAML subset parser.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, parseBytes, resolveAgentConfig } from '../../src/edge-agent/config.js';
import { parseYaml, YamlError } from '../../src/yaml.js';
import { KilnError } from '../../src/errors.js';
import { tempDir } from './helpers.js';

const configError = (fn: () => unknown): KilnError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('AGENT_CONFIG');
    return err as KilnError;
  }
  throw new Error('expected an AGENT_CONFIG error');
};

describe('agent config', () => {
  it('works with nothing: port 8080, 127.0.0.1, ./.kiln-agent, 6 MiB requests', () => {
    const c = resolveAgentConfig({ cwd: '/srv/app' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dataDir: '/srv/app/.kiln-agent',
      models: [],
      maxRequestBytes: 6 * 2 ** 20,
      keepVersions: 3,
      preload: true,
    });
    expect(c.token).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(CONFIG_DEFAULTS.port).toBe(8080);
  });

  it('flags > env > file > defaults; file paths resolve against the file', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'etc'));
    const file = join(dir, 'etc', 'agent.yaml');
    writeFileSync(
      file,
      [
        '# the agent',
        'port: 7000',
        'dataDir: ../state',
        'models:',
        '  - models/a',
        '  - models/b',
        'keepVersions: 5',
        'maxRequestBytes: 8MiB',
        'logFormat: pretty',
        '',
      ].join('\n'),
    );
    const file_only = resolveAgentConfig({ cwd: '/x', configFile: file });
    expect(file_only).toMatchObject({
      port: 7000,
      dataDir: join(dir, 'state'),
      models: [join(dir, 'etc/models/a'), join(dir, 'etc/models/b')],
      keepVersions: 5,
      maxRequestBytes: 8 * 2 ** 20,
      logFormat: 'pretty',
    });
    const env = { KILN_AGENT_PORT: '7100', KILN_AGENT_KEEP_VERSIONS: '2', KILN_AGENT_DATA_DIR: 'envdata', PATH: '/bin' };
    const with_env = resolveAgentConfig({ cwd: '/x', configFile: file, env });
    expect(with_env).toMatchObject({ port: 7100, keepVersions: 2, dataDir: '/x/envdata', logFormat: 'pretty' });
    const with_flags = resolveAgentConfig({ cwd: '/x', configFile: file, env, flags: { port: '7200', models: ['m.tgz'], dataDir: undefined } });
    expect(with_flags).toMatchObject({ port: 7200, keepVersions: 2, models: ['/x/m.tgz'], dataDir: '/x/envdata' });
    // KILN_AGENT_CONFIG names the file when no flag does.
    expect(resolveAgentConfig({ cwd: '/x', env: { KILN_AGENT_CONFIG: file } }).port).toBe(7000);
  });

  it('BAD CALL: unknown keys and bad values in every source, all listed in one error', () => {
    const dir = tempDir();
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, 'prot: 9000\nkeepVersions: many\nmaxRequestBytes: 6 parsecs\n');
    const err = configError(() =>
      resolveAgentConfig({ cwd: dir, configFile: file, env: { KILN_AGENT_PORTT: '1', KILN_AGENT_THREADS: '0' }, flags: { port: '99999', logLevel: 'loud' } }),
    );
    expect(err.message).toMatch(/7 problems/);
    expect(err.message).toMatch(/agent\.yaml: prot: unknown option \(valid: host, port,/);
    expect(err.message).toMatch(/agent\.yaml: keepVersions: expected a whole number, got "many"/);
    expect(err.message).toMatch(/agent\.yaml: maxRequestBytes: "6 parsecs" is not a size/);
    expect(err.message).toMatch(/KILN_AGENT_PORTT: unknown variable/);
    expect(err.message).toMatch(/KILN_AGENT_THREADS: must be between 1 and 1024 \(got 0\)/);
    expect(err.message).toMatch(/--port: must be between 0 and 65535 \(got 99999\)/);
    expect(err.message).toMatch(/--log-level: expected one of debug, info, warn, error, silent, got "loud"/);
  });

  it('BAD CALL: a non-loopback host needs a token; a missing file; broken YAML', () => {
    expect(configError(() => resolveAgentConfig({ cwd: '/', flags: { host: '0.0.0.0' } })).message).toMatch(
      /binding 0\.0\.0\.0 \(not loopback\) needs a token/,
    );
    expect(resolveAgentConfig({ cwd: '/', flags: { host: '0.0.0.0', token: 's3cret-token' } }).token).toBe('s3cret-token');
    expect(configError(() => resolveAgentConfig({ cwd: '/', configFile: '/nope/agent.yaml' })).message).toMatch(/no such config file/);
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), 'port: &p 8080\n');
    expect(configError(() => resolveAgentConfig({ cwd: dir, configFile: 'a.yaml' })).message).toMatch(/line 1: '&' \(anchors/);
  });

  it('variants from YAML: version keys and shadow versions become strings; bad ones are listed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.yaml'), ['variants:', '  cnn:', '    weights:', '      1: 90', '      "2": 10', '    shadow: 3', ''].join('\n'));
    expect(resolveAgentConfig({ cwd: dir, configFile: 'a.yaml' }).variants).toEqual({ cnn: { weights: { '1': 90, '2': 10 }, shadow: '3' } });
    writeFileSync(join(dir, 'b.yaml'), ['variants:', '  cnn:', '    weights:', '      1: -5', '    shade: 3', ''].join('\n'));
    expect(configError(() => resolveAgentConfig({ cwd: dir, configFile: 'b.yaml' })).message).toMatch(
      /variants: variants\.cnn: unknown key 'shade'.*variants\.cnn\.weights\.1 must be a number ≥ 0/s,
    );
  });

  it('threads, inter-op threads and the CPU fallback: from the file, KILN_AGENT_* and flags; bad counts refused', () => {
    const dir = tempDir();
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, ['threads: 2', 'interOpThreads: 2', 'allowCpuFallback: true', ''].join('\n'));
    expect(resolveAgentConfig({ cwd: dir })).toMatchObject({ allowCpuFallback: false });
    expect(resolveAgentConfig({ cwd: dir }).threads).toBeUndefined();
    expect(resolveAgentConfig({ cwd: dir, configFile: file })).toMatchObject({ threads: 2, interOpThreads: 2, allowCpuFallback: true });
    const env = { KILN_AGENT_THREADS: '1', KILN_AGENT_INTER_OP_THREADS: '3', KILN_AGENT_ALLOW_CPU_FALLBACK: 'false' };
    expect(resolveAgentConfig({ cwd: dir, configFile: file, env })).toMatchObject({ threads: 1, interOpThreads: 3, allowCpuFallback: false });
    expect(resolveAgentConfig({ cwd: dir, configFile: file, env, flags: { threads: '4' } })).toMatchObject({ threads: 4, interOpThreads: 3 });
    const e = configError(() => resolveAgentConfig({ cwd: dir, env: { KILN_AGENT_THREADS: '0' }, flags: { interOpThreads: 'two' } }));
    expect(e.message).toMatch(/KILN_AGENT_THREADS: must be between 1 and 1024 \(got 0\)/);
    expect(e.message).toMatch(/--inter-op-threads: expected a whole number, got "two"/);
  });

  it('sizes', () => {
    expect(parseBytes('6MiB')).toBe(6 * 2 ** 20);
    expect(parseBytes('6 MB')).toBe(6e6);
    expect(parseBytes(1024)).toBe(1024);
    expect(parseBytes('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('-1')).toBeUndefined();
    expect(parseBytes('12 parsecs')).toBeUndefined();
  });
});

describe('YAML subset', () => {
  it('parses mappings, sequences, flow sequences, scalars, comments', () => {
    const doc = parseYaml(
      [
        '---',
        'host: 127.0.0.1   # loopback',
        'port: 8080',
        'token: "a # not a comment"',
        "name: 'it''s'",
        'ratio: 0.5',
        'on: true',
        'off: no',
        'nothing: ~',
        'list: [a, "b, c", 3]',
        'models:',
        '- one',
        '- two',
        'nested:',
        '  deeper:',
        '    key: value',
        '  url: http://x:1/y',
      ].join('\n'),
    );
    expect(doc).toEqual({
      host: '127.0.0.1',
      port: 8080,
      token: 'a # not a comment',
      name: "it's",
      ratio: 0.5,
      on: true,
      off: 'no',
      nothing: null,
      list: ['a', 'b, c', 3],
      models: ['one', 'two'],
      nested: { deeper: { key: 'value' }, url: 'http://x:1/y' },
    });
    expect(parseYaml('')).toBeNull();
  });

  it('BAD CALL: tabs, duplicate keys, aliases, block scalars, several documents, bad indentation', () => {
    const bad = (text: string, pattern: RegExp) => {
      expect(() => parseYaml(text)).toThrow(YamlError);
      expect(() => parseYaml(text)).toThrow(pattern);
    };
    bad('a:\n\tb: 1', /line 2: tabs/);
    bad('a: 1\na: 2', /line 2: key 'a' appears twice/);
    bad('a: *ref', /anchors, aliases/);
    bad('a: |\n  text', /block scalars/);
    bad('a: 1\n---\nb: 2', /multiple documents/);
    bad('a: 1\n  b: 2', /unexpected indentation/);
    bad('just text', /expected "key: value"/);
    bad('a: "open', /unterminated/);
  });
});
