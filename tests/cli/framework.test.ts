import { describe, expect, it } from 'vitest';
import { createCli, defineCommand } from '../../src/cli/framework.js';
import { captureIo } from '../../src/cli/io.js';
import { KilnError } from '../../src/errors.js';

const seen: unknown[] = [];

const greet = defineCommand({
  name: 'greet',
  summary: 'say hello',
  description: 'Greets everyone named, politely or not.',
  positionals: [
    { name: 'who', description: 'whom to greet' },
    { name: 'others', description: 'more people', optional: true, variadic: true },
  ],
  options: {
    loud: { type: 'boolean', short: 'l', description: 'shout' },
    greeting: { type: 'string', valueName: 'WORD', default: 'hello', description: 'the word to use' },
    style: { type: 'string', choices: ['plain', 'fancy'], description: 'how it looks' },
    tag: { type: 'string', multiple: true, valueName: 'TAG', description: 'add a tag' },
  },
  examples: [{ command: 'greet ada --loud', description: 'shout at Ada' }],
  run(ctx) {
    seen.push({ options: ctx.options, args: ctx.args });
    // Types: greeting is string, style is the union or undefined, tag is string[], others is string[].
    const greeting: string = ctx.options.greeting;
    const style: 'plain' | 'fancy' | undefined = ctx.options.style;
    const tags: string[] = ctx.options.tag;
    const others: string[] = ctx.args.others;
    const text = `${greeting} ${[ctx.args.who, ...others].join(', ')}${tags.length ? ` #${tags.join(' #')}` : ''}${style === 'fancy' ? ' ✨' : ''}`;
    if (ctx.json) ctx.printJson({ text });
    else ctx.print(ctx.options.loud ? text.toUpperCase() : text);
  },
});

const fail = defineCommand({
  name: 'tools fail',
  summary: 'fail in the way asked',
  positionals: [{ name: 'how', description: 'kiln, crash or code' }],
  options: { out: { type: 'string', short: 'o', valueName: 'FILE', required: true, description: 'output file' } },
  run({ args }) {
    if (args.how === 'kiln') throw new KilnError('BAD_SHAPE', 'the shape is wrong', { hint: 'fix it' });
    if (args.how === 'crash') throw new TypeError('undefined is not a function');
    if (args.how === 'code') return 3;
  },
});

const noop = defineCommand({ name: 'tools noop', summary: 'do nothing', run() {} });

const cli = createCli({
  name: 'toy',
  summary: 'a toy program',
  version: () => ({ toy: '1.2.3', runtime: '4.5.6' }),
  commands: [greet, fail, noop],
  groups: [{ name: 'tools', summary: 'tools that fail' }],
});

async function run(...argv: string[]) {
  const io = captureIo();
  const code = await cli.run(argv, io);
  return { code, out: io.out, err: io.err };
}

const oneLine = (text: string): void => {
  expect(text.trimEnd().split('\n')).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /);
};

describe('parsing', () => {
  it('gives typed options with defaults, repeatables and positionals', async () => {
    seen.length = 0;
    const r = await run('greet', 'ada', 'bob', 'cy', '--tag', 'a', '--tag=b', '--style', 'fancy');
    expect(r).toEqual({ code: 0, out: 'hello ada, bob, cy #a #b ✨\n', err: '' });
    expect(seen[0]).toEqual({ options: { loud: false, greeting: 'hello', style: 'fancy', tag: ['a', 'b'] }, args: { who: 'ada', others: ['bob', 'cy'] } });
  });
  it('accepts short flags, --flag=value, global flags before the command, and -- before positionals', async () => {
    expect((await run('-l', 'greet', '--greeting=hi', 'ada')).out).toBe('HI ADA\n');
    expect((await run('--json', 'greet', 'ada')).out).toBe('{\n  "text": "hello ada"\n}\n');
    expect((await run('greet', '--', '-x')).out).toBe('hello -x\n');
  });
  it('returns the exit code a command returns', async () => {
    expect((await run('tools', 'fail', 'code', '-o', 'f')).code).toBe(3);
    expect((await run('tools', 'fail', 'none', '-o', 'f')).code).toBe(0);
  });
});

describe('BAD CALL - bad input gives one line, exit 2 and a pointer to --help', () => {
  const cases: [string[], string][] = [
    [['greet', 'ada', '--lod'], "unknown option '--lod' (did you mean '--loud'?) — see toy greet --help"],
    [['greet', 'ada', '-x'], "unknown option '-x' — see toy greet --help"],
    [['greet'], 'missing <who>: whom to greet — see toy greet --help'],
    [['greet', 'ada', '--style', 'ugly'], "--style must be one of plain, fancy (got 'ugly')"],
    [['greet', 'ada', '--loud=yes'], "--loud takes no value (got 'yes')"],
    [['greet', 'ada', '--greeting'], '--greeting needs a value: --greeting WORD'],
    [['greet', 'ada', '--greeting', '--loud'], "--greeting needs a value, but got the flag '--loud'"],
    [['greet', 'ada', '--greeting', 'a', '--greeting', 'b'], '--greeting was given twice'],
    [['tools', 'fail', 'kiln'], '--out is required (--out FILE) — see toy tools fail --help'],
    [['tools', 'noop', 'extra'], "unexpected argument 'extra' (toy tools noop takes no arguments)"],
    [['gret'], "unknown command 'gret' (did you mean 'greet'?) — see toy --help"],
    [['tools', 'fale'], "unknown command 'tools fale' (did you mean 'tools fail'?) — see toy tools --help"],
    [['tools'], "'toy tools' needs a command: fail, noop — see toy tools --help"],
    [['--bogus'], "unknown option '--bogus' — see toy --help"],
  ];
  for (const [argv, message] of cases) {
    it(`toy ${argv.join(' ')}`, async () => {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      oneLine(r.err);
      expect(r.err).toContain(message);
      expect(r.err.startsWith('toy: ')).toBe(true);
    });
  }
});

describe('errors from commands', () => {
  it('KilnError: its message and exit code, no stack', async () => {
    const r = await run('tools', 'fail', 'kiln', '-o', 'f');
    expect(r.code).toBe(2);
    expect(r.err).toBe('toy: the shape is wrong — fix it\n');
  });
  it('any other error: exit 1, a short message, the stack only with --verbose', async () => {
    const r = await run('tools', 'fail', 'crash', '-o', 'f');
    expect(r.code).toBe(1);
    oneLine(r.err);
    expect(r.err).toContain('unexpected error: undefined is not a function');
    expect(r.err).toContain('--verbose');
    const v = await run('tools', 'fail', 'crash', '-o', 'f', '--verbose');
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/TypeError: undefined is not a function\n\s+at /);
  });
  it('--verbose shows the stack of a KilnError too, and of a usage error', async () => {
    expect((await run('tools', 'fail', 'kiln', '-o', 'f', '--verbose')).err).toMatch(/KilnError: the shape is wrong[^\n]*\n\s+at /);
    expect((await run('greet', '--nope', '--verbose')).err).toMatch(/\n\s+at /);
  });
  it('--json adds a machine-readable error on stdout', async () => {
    const r = await run('tools', 'fail', 'kiln', '-o', 'f', '--json');
    expect(JSON.parse(r.out)).toEqual({ error: { code: 'BAD_SHAPE', message: 'the shape is wrong — fix it', exitCode: 2 } });
  });
});

describe('help', () => {
  it('a command: usage, description, aligned options with notes, examples', async () => {
    const r = await run('greet', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('toy greet — say hello');
    expect(r.out).toContain('Usage\n  toy greet <who> [<others>...] [options]');
    expect(r.out).toContain('Greets everyone named');
    expect(r.out).toContain('  -l, --loud            shout');
    expect(r.out).toContain('      --greeting WORD   the word to use (default: hello)');
    expect(r.out).toContain('      --style VALUE     how it looks (one of: plain, fancy)');
    expect(r.out).toContain('      --tag TAG         add a tag (repeatable)');
    expect(r.out).toContain('      --json');
    expect(r.out).toContain('Examples\n  # shout at Ada\n  toy greet ada --loud');
    expect(r.out.split('\n').every((l) => l.length <= 90)).toBe(true);
  });
  it('wins over other problems, and works as `help <command>` and -h', async () => {
    const a = await run('greet', '--nope', '--help');
    const b = await run('help', 'greet');
    const c = await run('greet', '-h');
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(c.out).toBe(b.out);
  });
  it('required options appear in the usage line', async () => {
    expect((await run('tools', 'fail', '--help')).out).toContain('toy tools fail --out FILE <how> [options]');
  });
  it('a group lists its commands; the top level lists all, with global options', async () => {
    const group = await run('tools', '--help');
    expect(group.out).toContain('toy tools — tools that fail');
    expect(group.out).toMatch(/tools fail\s+fail in the way asked/);
    expect(group.out).not.toContain('greet');
    const top = await run();
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/greet\s+say hello/);
    expect(top.out).toContain('--version');
    expect(cli.help('tools')).toBe(group.out);
  });
  it('--version prints each component, or JSON', async () => {
    expect((await run('--version')).out).toBe('toy      1.2.3\nruntime  4.5.6\n');
    expect(JSON.parse((await run('--version', '--json')).out)).toEqual({ toy: '1.2.3', runtime: '4.5.6' });
  });
});

describe('registration', () => {
  it('BAD CALL - refuses duplicate commands, redefined global options and command/group clashes', () => {
    expect(() => createCli({ name: 'x', summary: '', version: () => ({}), commands: [noop, noop] })).toThrow(/registered twice/);
    const bad = defineCommand({ name: 'b', summary: '', options: { json: { type: 'boolean', description: '' } }, run() {} });
    expect(() => createCli({ name: 'x', summary: '', version: () => ({}), commands: [bad] })).toThrow(/global/);
    const clash = defineCommand({ name: 'tools', summary: '', run() {} });
    expect(() => createCli({ name: 'x', summary: '', version: () => ({}), commands: [noop, clash] })).toThrow(/both a command and a group/);
  });
});
