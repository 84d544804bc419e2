/**
 * Deploy files (pure): the YAML subset with lines, the format's defaults, and BAD CALLs — bad YAML
 * and bad specs refused with every problem listed at its path and line. No fleet here; plan, apply
 * and drift against a real cloud are in plan-apply.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkDeployFile, computeDrift, defaultDeploymentId, DeployFileError, parseDeployFile } from '../../src/cloud/deployments/index.js';
import { parseYamlDocument, YamlError } from '../../src/yaml.js';
import type { DeviceRecord } from '../../src/cloud/gateway/index.js';
import { captureIo } from '../../src/cli/io.js';
import { runMain } from '../../src/cli/main.js';

const GOOD = `# two deployments
deployments:
  - model: cnn
    version: 2.0            # a number in YAML: read as the text '2.0'
    group: store-12
    strategy:
      kind: canary
      steps: [5, 20, 100]
      bake: 10m
    guardrails:
      rateLimitPerMinute: 10
      abort: {failedPercent: 20, minDevices: 5}
      alarms:
        - metric: error-rate
          threshold: 0.02
  - model: "detector"
    version: '1.1.0'
    from: 1.0.0
    devices:
      - cam-1
      - cam-2
    strategy: all-at-once
`;

const problemsOf = (text: string): string[] => {
  try {
    parseDeployFile(text, 'deploy.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(DeployFileError);
    return (err as DeployFileError).problems.map((p) => `${p.line ?? '?'} ${p.path}: ${p.message}`);
  }
  throw new Error('expected the file to be refused');
};

describe('deploy files', () => {
  it('parses deployments with defaults: durations in ms, a stable id, versions as written', () => {
    const { deployments, file } = parseDeployFile(GOOD, 'deploy.yaml');
    expect(deployments).toEqual([
      {
        path: 'deployments[0]',
        id: 'cnn-2.0-store-12',
        model: 'cnn',
        version: '2.0',
        group: 'store-12',
        strategy: { kind: 'canary', steps: [5, 20, 100], bakeMs: 600_000 },
        guardrails: { rateLimitPerMinute: 10, abort: { failedPercent: 20, minDevices: 5 }, alarms: [{ metric: 'error-rate', threshold: 0.02 }] },
      },
      {
        path: 'deployments[1]',
        id: defaultDeploymentId({ model: 'detector', version: '1.1.0', devices: ['cam-2', 'cam-1'] }),
        model: 'detector',
        version: '1.1.0',
        from: '1.0.0',
        devices: ['cam-1', 'cam-2'],
        strategy: { kind: 'all-at-once' },
        guardrails: {},
      },
    ]);
    expect(deployments[1].id).toMatch(/^detector-1\.1\.0-devices-[0-9a-f]{8}$/);
    // What goes to the cloud: the file as written, versions as strings.
    expect(file.deployments[0]).toMatchObject({ version: '2.0', strategy: { bake: '10m' } });
    // The cloud checks the same JSON again and gets the same answer.
    expect(checkDeployFile(file).deployments).toEqual(deployments);
  });

  it('keeps the line of every value, in sequences of mappings and flow collections too', () => {
    const doc = parseYamlDocument(GOOD);
    expect(doc.lines.get('deployments[0].strategy.steps[2]')).toBe(8);
    expect(doc.lines.get('deployments[0].guardrails.abort.minDevices')).toBe(12);
    expect(doc.lines.get('deployments[0].guardrails.alarms[0].threshold')).toBe(15);
    expect(doc.lines.get('deployments[1].devices[1]')).toBe(21);
  });

  it('BAD CALL: YAML it does not read is refused with its line', () => {
    for (const [text, line, msg] of [
      ['deployments:\n  - model: cnn\n\tversion: 1', 3, /tabs/],
      ['deployments:\n  - model: &a cnn\n', 2, /anchors, aliases/],
      ['deployments:\n  - model: cnn\n---\nother: 1\n', 3, /multiple documents/],
      ['deployments:\n  - model: cnn\n    version: "2.0\n', 3, /unterminated/],
      ['deployments:\n  - model: cnn\n      version: 2\n', 3, /expected "key: value"|indentation/],
      ['a: 1\na: 2\n', 2, /appears twice/],
      ['steps: [5, 20\n', 1, /expected ',' or '\]'/],
    ] as const) {
      expect(() => parseYamlDocument(text), text).toThrow(YamlError);
      const problems = problemsOf(text);
      expect(problems, text).toHaveLength(1);
      expect(problems[0], text).toMatch(new RegExp(`^${line} : not valid YAML: `));
      expect(problems[0], text).toMatch(msg);
    }
    // The deploy file's own advice after the parser's reason.
    expect(problemsOf('a: 1\n---\n')[0]).toBe('2 : not valid YAML: multiple documents are not supported: put every deployment under one deployments: list');
  });

  it('BAD CALL: a bad spec lists every problem with its path and line, in one error', () => {
    const text = `deployments:
  - model: cnn
    verison: 2.0.0
    group: fleet
    devices: [a]
    strategy:
      kind: canary
      steps: [50, 20]
      bake: soon
  - model: cnn
    version: 2.0.0
    from: 2.0.0
    group: fleet
    strategy: sideways
    guardrails:
      rateLimitPerMinute: 0
      alarms:
        - metric: latency
          threshold: 1
`;
    let err: DeployFileError | undefined;
    try {
      parseDeployFile(text, 'deploy.yaml');
    } catch (e) {
      err = e as DeployFileError;
    }
    expect(err).toBeInstanceOf(DeployFileError);
    expect(err!.code).toBe('BAD_DEPLOYMENT_SPEC');
    expect(err!.exitCode).toBe(2);
    const lines = err!.problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^3 deployments\[0\]\.verison: unknown key \(did you mean 'version'\?\)/),
        expect.stringMatching(/^2 deployments\[0\]\.version: missing: a version$/),
        expect.stringMatching(/^2 deployments\[0\]: give either group: or devices:, not both/),
        expect.stringMatching(/^9 deployments\[0\]\.strategy\.bake: 'soon' is not a duration: write 250ms, 30s, 5m/),
        expect.stringMatching(/^12 deployments\[1\]\.from: must differ from version \(both are '2\.0\.0'\)/),
        expect.stringMatching(/^14 deployments\[1\]\.strategy: 'sideways' is unknown; valid: all-at-once, canary/),
        expect.stringMatching(/^16 deployments\[1\]\.guardrails\.rateLimitPerMinute: must be a number ≥ 1/),
        expect.stringMatching(/^18 deployments\[1\]\.guardrails\.alarms\[0\]\.metric: 'latency' is unknown/),
      ]),
    );
    // The message names the file and each line, ready to print.
    expect(err!.message).toMatch(/^deploy\.yaml is invalid \(\d+ problems\):\n {2}deploy\.yaml:2: deployments\[0\]\.version: missing: a version\n/);
    expect(err!.problems.map((p) => p.line)).toEqual([...err!.problems.map((p) => p.line)].sort((a, b) => a! - b!));
    // Fix the unknown key and the bake: the steps' order is the engine's to judge, at its path.
    const steps = problemsOf(`deployments:\n  - model: cnn\n    version: 2.0.0\n    group: fleet\n    strategy:\n      kind: canary\n      steps: [50, 20]\n`);
    expect(steps).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^7 deployments\[0\]\.strategy\.steps: must be strictly increasing/),
        expect.stringMatching(/^7 deployments\[0\]\.strategy\.steps: must end at 100/),
      ]),
    );
  });

  it('BAD CALL: not a deploy file, no deployments, the same id twice', () => {
    expect(problemsOf('- a\n- b\n')).toEqual([expect.stringMatching(/^1 : expected a mapping with a 'deployments' list/)]);
    expect(problemsOf('deployment:\n  - model: cnn\n')).toEqual([
      expect.stringMatching(/^1 deployment: unknown key \(did you mean 'deployments'\?\)/),
      expect.stringMatching(/deployments: missing/),
    ]);
    expect(problemsOf('deployments: []\n')).toEqual([expect.stringMatching(/^1 deployments: must be a non-empty list/)]);
    const twice = problemsOf(
      'deployments:\n  - {model: cnn, version: 2.0.0, group: g, strategy: shadow}\n  - {model: cnn, version: 2.0.0, group: g, strategy: all-at-once}\n',
    );
    expect(twice).toEqual([expect.stringMatching(/^3 deployments\[1\]: deployment id 'cnn-2\.0\.0-g' is also deployments\[0\]'s/)]);
  });
});

describe('the commands teach the format', () => {
  it('kiln plan --help shows the deploy file as YAML, indented as written; apply and drift say their exit codes', async () => {
    const io = captureIo();
    expect(await runMain(['plan', '--help'], io)).toBe(0);
    expect(io.out).toContain('\n  deployments:\n    - model: cnn                 # required\n      version: 2.0.0 ');
    expect(io.out).toContain('\n        abort: {failedPercent: 20, minDevices: 5}\n');
    expect(io.out).toMatch(/Exit status: 0 the plan can be applied/);
    // The format it shows parses.
    const yaml = io.out.slice(io.out.indexOf('  deployments:'), io.out.indexOf('\n\nExit status')).replace(/#.*$/gm, '');
    expect(parseDeployFile(yaml, 'help').deployments[0]).toMatchObject({
      id: 'cnn-2.0.0-store-12',
      from: '1.0.0',
      guardrails: { alarms: [{ metric: 'error-rate', threshold: 0.02 }] },
      strategy: { kind: 'canary', steps: [5, 20, 100], bakeMs: 600_000 },
    });
    for (const [cmd, text] of [
      ['apply', /Exit status: 0 applied \(or nothing to apply\), 1 refused or cancelled, 2/],
      ['drift', /Exit status: 0 no drift, 1 some device drifts/],
    ] as const) {
      const h = captureIo();
      expect(await runMain([cmd, '--help'], h)).toBe(0);
      expect(h.out).toMatch(text);
    }
  });
});

describe('drift (pure)', () => {
  const desired = (version: number, models: Record<string, string>) => ({
    v: 1 as const,
    version,
    updatedAt: '2025-01-01T00:00:00.000Z',
    models: Object.fromEntries(
      Object.entries(models).map(([m, v]) => [
        m,
        { version: v, artifact: { url: 'http://x/a.tgz', sha256: 'a'.repeat(64), signature: { algorithm: 'ed25519' as const, keyId: 'b'.repeat(16) } } },
      ]),
    ),
  });
  const device = (id: string, over: Partial<DeviceRecord>): DeviceRecord => ({
    id,
    name: id,
    group: 'g',
    tags: [],
    createdAt: '',
    lastSeen: '2025-01-01T00:00:00.000Z',
    online: true,
    reported: null,
    reportedAt: null,
    desired: null,
    ...over,
  });
  const reported = (
    desiredVersion: number,
    models: Record<string, { status: 'current' | 'failed' | 'downloading'; version: string; serving?: string; reason?: string }>,
  ) => ({ v: 1 as const, desiredVersion, models, at: '' });

  it('tells failed, version-mismatch, installing, stale, offline and unmanaged devices apart', () => {
    const report = computeDrift([
      device('ok', { desired: desired(2, { cnn: '2.0.0' }), reported: reported(2, { cnn: { status: 'current', version: '2.0.0', serving: '2.0.0' } }) }),
      device('failed', {
        desired: desired(2, { cnn: '2.0.0' }),
        reported: reported(2, { cnn: { status: 'failed', version: '2.0.0', serving: '1.0.0', reason: 'sha256 mismatch' } }),
      }),
      device('other', { desired: desired(3, { cnn: '2.0.0' }), reported: reported(3, { cnn: { status: 'current', version: '1.0.0', serving: '1.0.0' } }) }),
      device('busy', { desired: desired(1, { cnn: '2.0.0' }), reported: reported(1, { cnn: { status: 'downloading', version: '2.0.0', serving: '1.0.0' } }) }),
      device('stale', { desired: desired(5, { cnn: '2.0.0' }), reported: reported(4, { cnn: { status: 'current', version: '1.0.0', serving: '1.0.0' } }) }),
      device('gone', { online: false, desired: desired(1, { cnn: '2.0.0' }) }),
      device('unmanaged', { reported: reported(0, { cnn: { status: 'current', version: '1.0.0' } }) }),
    ]);
    expect(report).toMatchObject({ devices: 7, managed: 6, drifted: 5 });
    expect(report.entries.map((e) => [e.deviceId, e.kind])).toEqual([
      ['failed', 'failed'],
      ['other', 'version-mismatch'],
      ['busy', 'installing'],
      ['stale', 'stale'],
      ['gone', 'offline'],
    ]);
    expect(report.entries[0]).toMatchObject({
      model: 'cnn',
      desired: '2.0.0',
      reported: '2.0.0',
      serving: '1.0.0',
      reason: 'sha256 mismatch',
      detail: 'cnn 2.0.0 failed to install: sha256 mismatch; serving 1.0.0',
    });
    expect(report.entries[3].detail).toBe('reports desired state #4; #5 was sent at 2025-01-01T00:00:00.000Z');
    expect(report.entries[4].detail).toBe('offline since 2025-01-01T00:00:00.000Z');
  });
});
