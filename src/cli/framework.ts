/**
 * kiln's small command framework, on node:util parseArgs.
 *
 * A command is data (name, summary, description, options, positionals, examples) plus a `run`
 * function that receives parsed, typed values and an io object. The framework resolves nested
 * names (`models list`), generates `--help` for every command and group, validates flags and
 * arguments (bad input → one line + exit 2 pointing at `--help`), and turns errors into exit codes.
 * It never touches `process`: `runMain` in main.ts does, once.
 *
 * ```ts
 * export const hello = defineCommand({
 *   name: 'hello',
 *   summary: 'greet someone',
 *   positionals: [{ name: 'who', description: 'whom to greet' }],
 *   options: { loud: { type: 'boolean', description: 'shout' } },
 *   run({ args, options, print }) { print(options.loud ? `HI ${args.who}!` : `hi ${args.who}`); },
 * });
 * ```
 */
import { parseArgs } from 'node:util';
import { isKilnError, KilnError } from '../errors.js';
import { missingPackageError } from '../optional-packages.js';
import type { CliIo } from './io.js';
import { closest, table, wrap } from '../format.js';

// ───────────────────────────── specs ─────────────────────────────

interface OptionBase {
  /** One line shown in --help. */
  description: string;
  /** One-letter alias, without the dash ('o' for -o). */
  short?: string;
}

export interface BooleanOption extends OptionBase {
  type: 'boolean';
  /** @default false */
  default?: boolean;
}

export interface StringOption extends OptionBase {
  type: 'string';
  multiple?: false;
  /** Placeholder in --help (`--output FILE`). @default 'VALUE' */
  valueName?: string;
  default?: string;
  /** Accepted values; anything else is rejected with the list. */
  choices?: readonly string[];
  /** Must be given (shown in the usage line). @default false */
  required?: boolean;
}

export interface RepeatableOption extends OptionBase {
  type: 'string';
  /** May be given several times; the value is an array in order. */
  multiple: true;
  /** @default 'VALUE' */
  valueName?: string;
  /** @default [] */
  default?: readonly string[];
  choices?: readonly string[];
}

export type OptionSpec = BooleanOption | StringOption | RepeatableOption;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export interface PositionalSpec {
  /** Name in usage (`<model>`) and the key in `args`. */
  name: string;
  description: string;
  /** @default false: positionals are required unless marked optional. */
  optional?: boolean;
  /** Takes all remaining arguments (last positional only); the value is an array. @default false */
  variadic?: boolean;
}

export interface Example {
  /** The command line, without the leading `kiln `. */
  command: string;
  /** What it does. */
  description?: string;
}

type Choice<S> = S extends { choices: readonly (infer C)[] } ? C : string;

/** The value type a parsed option has, derived from its spec. */
export type OptionValue<S extends OptionSpec> = S extends BooleanOption
  ? boolean
  : S extends RepeatableOption
    ? Choice<S>[]
    : S extends { default: string } | { required: true }
      ? Choice<S>
      : Choice<S> | undefined;

export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]: OptionValue<O[K]> };

export type PositionalValues<P extends readonly PositionalSpec[]> = {
  [E in P[number] as E['name']]: E extends { variadic: true } ? string[] : E extends { optional: true } ? string | undefined : string;
};

export interface CommandContext<O extends OptionSpecs = OptionSpecs, P extends readonly PositionalSpec[] = readonly PositionalSpec[]> {
  /** Parsed options, defaults applied. */
  options: OptionValues<O>;
  /** Parsed positionals by name. */
  args: PositionalValues<P>;
  /** Global --json: print machine-readable output (one JSON document on stdout). */
  json: boolean;
  /** Global --verbose: more detail, stack traces on errors. */
  verbose: boolean;
  io: CliIo;
  /** Write a line (or lines) to stdout. */
  print(text?: string): void;
  /** Write `value` as indented JSON to stdout. */
  printJson(value: unknown): void;
  /** Write `kiln: warning: …` to stderr. */
  warn(text: string): void;
  /** A KilnError('USAGE') for this command, hinting at its --help. */
  usageError(message: string): KilnError;
}

export interface CommandSpec<O extends OptionSpecs = OptionSpecs, P extends readonly PositionalSpec[] = readonly PositionalSpec[]> {
  /** Space-separated path: 'inspect', 'models list', 'import tfjs'. */
  name: string;
  /** One line, lower case, no final period: shown in lists. */
  summary: string;
  /** Paragraphs shown in this command's --help. */
  description?: string;
  options?: O;
  positionals?: P;
  examples?: readonly Example[];
  /** Do the work. Return an exit code, or nothing for 0. Throw KilnError for bad input. */
  run(ctx: CommandContext<O, P>): Promise<number | void> | number | void;
}

/** A registered command, its option and positional types erased. */
export type Command = CommandSpec<OptionSpecs, readonly PositionalSpec[]>;

/** Identity function that infers option and positional types for `run`. */
export function defineCommand<const O extends OptionSpecs = {}, const P extends readonly PositionalSpec[] = []>(spec: CommandSpec<O, P>): Command {
  return spec as unknown as Command;
}

export interface GroupSpec {
  /** The noun: 'models', 'import'. */
  name: string;
  summary: string;
  description?: string;
}

export interface CliSpec {
  /** Program name: 'kiln'. */
  name: string;
  /** One line describing the program, shown atop `--help`. */
  summary: string;
  /** Component → version, printed by `--version` (computed only when asked). The program's own comes first. */
  version: () => Record<string, string> | Promise<Record<string, string>>;
  commands: readonly Command[];
  groups?: readonly GroupSpec[];
  /** Help topics beyond the commands: `kiln help errors`. Each writes its text, or JSON with --json. */
  topics?: Readonly<Record<string, HelpTopic>>;
}

export interface HelpTopic {
  /** One line shown in the top-level --help. */
  summary: string;
  render(json: boolean): string;
}

// ───────────────────────────── the tree ─────────────────────────────

interface Node {
  path: string[];
  command?: Command;
  group?: GroupSpec;
  children: Map<string, Node>;
}

const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout' },
  verbose: { type: 'boolean', description: 'more detail; stack traces on errors' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const satisfies OptionSpecs;

const HELP_WIDTH = 88;

function buildTree(spec: CliSpec): Node {
  const root: Node = { path: [], children: new Map() };
  const nodeAt = (path: string[]): Node => {
    let node = root;
    for (let i = 0; i < path.length; i++) {
      let child = node.children.get(path[i]);
      if (!child) {
        child = { path: path.slice(0, i + 1), children: new Map() };
        node.children.set(path[i], child);
      }
      node = child;
    }
    return node;
  };
  for (const command of spec.commands) {
    const path = command.name.split(' ').filter(Boolean);
    if (path.length === 0) throw new TypeError('a command needs a name');
    for (const key of Object.keys(command.options ?? {})) {
      if (key in GLOBAL_OPTIONS) throw new TypeError(`command '${command.name}': option --${key} is global and cannot be redefined`);
    }
    const node = nodeAt(path);
    if (node.command) throw new TypeError(`command '${command.name}' is registered twice`);
    node.command = command;
  }
  for (const group of spec.groups ?? []) nodeAt(group.name.split(' ')).group = group;
  for (const node of walk(root)) {
    if (node.command && node.children.size > 0) {
      throw new TypeError(`'${node.path.join(' ')}' is both a command and a group of commands`);
    }
  }
  return root;
}

function* walk(node: Node): Generator<Node> {
  yield node;
  for (const child of node.children.values()) yield* walk(child);
}

const leaves = (node: Node): Command[] => [...walk(node)].flatMap((n) => (n.command ? [n.command] : []));

// ───────────────────────────── help ─────────────────────────────

const flagLabel = (name: string, spec: OptionSpec): string => {
  const value = spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : '';
  return `${spec.short ? `-${spec.short}, ` : '    '}--${name}${value}`;
};

function optionNotes(spec: OptionSpec): string {
  const notes: string[] = [];
  if (spec.type === 'string' && spec.choices) notes.push(`one of: ${spec.choices.join(', ')}`);
  if (spec.type === 'string' && spec.multiple) notes.push('repeatable');
  if (spec.type === 'string' && !spec.multiple && spec.required) notes.push('required');
  if (spec.type === 'string' && !spec.multiple && spec.default !== undefined) notes.push(`default: ${spec.default}`);
  if (spec.type === 'string' && spec.multiple && spec.default?.length) notes.push(`default: ${spec.default.join(', ')}`);
  return notes.length ? ` (${notes.join('; ')})` : '';
}

function usageLine(program: string, command: Command): string {
  const parts = [program, command.name];
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    if (spec.type === 'string' && !spec.multiple && spec.required) parts.push(`--${name} ${spec.valueName ?? 'VALUE'}`);
  }
  for (const p of command.positionals ?? []) {
    const label = `<${p.name}>${p.variadic ? '...' : ''}`;
    parts.push(p.optional ? `[${label}]` : label);
  }
  parts.push('[options]');
  return parts.join(' ');
}

function twoColumns(rows: [string, string][], indent = 2): string {
  const width = Math.max(...rows.map(([a]) => a.length));
  const descIndent = indent + width + 3;
  return rows.map(([a, b]) => `${' '.repeat(indent)}${a.padEnd(width)}   ${wrap(b, HELP_WIDTH, descIndent)}`.trimEnd()).join('\n');
}

/** The --help text of a command. */
export function commandHelp(program: string, command: Command): string {
  const out: string[] = [];
  out.push(`${program} ${command.name} — ${command.summary}`, '', 'Usage', `  ${usageLine(program, command)}`);
  if (command.description) out.push('', wrap(command.description.trim(), HELP_WIDTH));
  const positionals = command.positionals ?? [];
  if (positionals.length) {
    out.push('', 'Arguments', twoColumns(positionals.map((p) => [p.name, p.description + (p.optional ? ' (optional)' : '')])));
  }
  const options: [string, string][] = Object.entries(command.options ?? {}).map(([name, spec]) => [
    flagLabel(name, spec),
    spec.description + optionNotes(spec),
  ]);
  out.push('', 'Options', twoColumns(options.concat(Object.entries(GLOBAL_OPTIONS).map(([name, spec]) => [flagLabel(name, spec), spec.description]))));
  if (command.examples?.length) {
    out.push('', 'Examples');
    for (const ex of command.examples) {
      if (ex.description) out.push(`  # ${ex.description}`);
      out.push(`  ${program} ${ex.command}`);
    }
  }
  return out.join('\n') + '\n';
}

function groupHelp(spec: CliSpec, node: Node): string {
  const out: string[] = [];
  const isRoot = node.path.length === 0;
  const title = isRoot ? spec.name : `${spec.name} ${node.path.join(' ')}`;
  const summary = isRoot ? spec.summary : node.group?.summary;
  out.push(summary ? `${title} — ${summary}` : title, '', 'Usage', `  ${title} <command> [options]`);
  const description = isRoot ? undefined : node.group?.description;
  if (description) out.push('', wrap(description.trim(), HELP_WIDTH));
  const commands = leaves(node).map((c): [string, string] => [c.name, c.summary]);
  out.push('', 'Commands', twoColumns(commands));
  const globals: [string, string][] = Object.entries(GLOBAL_OPTIONS).map(([name, s]) => [flagLabel(name, s), s.description]);
  if (isRoot) globals.push(['    --version', `print ${spec.name}'s version and its runtimes'`]);
  out.push('', 'Global options', twoColumns(globals));
  const topics = isRoot ? Object.entries(spec.topics ?? {}).map(([name, t]): [string, string] => [`help ${name}`, t.summary]) : [];
  if (topics.length) out.push('', 'Help topics', twoColumns(topics));
  out.push('', `Run '${title} <command> --help' for a command's options and examples.`);
  return out.join('\n') + '\n';
}

// ───────────────────────────── parsing ─────────────────────────────

export interface ParsedCommand {
  command: Command;
  options: Record<string, unknown>;
  args: Record<string, unknown>;
  json: boolean;
  verbose: boolean;
  help: boolean;
}

type Resolution =
  | { kind: 'command'; node: Node; rest: string[] }
  | { kind: 'group'; node: Node; rest: string[] }
  | { kind: 'unknown'; node: Node; word: string; rest: string[] };

function resolve(root: Node, argv: readonly string[]): Resolution {
  let node = root;
  const rest: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') break;
    if (token.startsWith('-') && token !== '-') {
      rest.push(token);
      continue;
    }
    const child = node.children.get(token);
    if (!child) return { kind: 'unknown', node, word: token, rest: [...rest, ...argv.slice(i + 1)] };
    node = child;
    if (node.command) {
      i++;
      break;
    }
  }
  rest.push(...argv.slice(i));
  return node.command ? { kind: 'command', node, rest } : { kind: 'group', node, rest };
}

/** Parse a command's arguments (after its name). Throws KilnError('USAGE') on bad input. */
export function parseCommandArgs(program: string, command: Command, argv: readonly string[]): ParsedCommand {
  const specs: Record<string, OptionSpec> = { ...(command.options ?? {}), ...GLOBAL_OPTIONS };
  const helpHint = `see ${program} ${command.name} --help`;
  const bad = (message: string): KilnError => new KilnError('USAGE', message, { hint: helpHint });
  const parseConfig: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    parseConfig[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.type === 'string' && spec.multiple ? { multiple: true } : {}),
    };
  }
  const { tokens } = parseArgs({ args: [...argv], options: parseConfig, strict: false, allowPositionals: true, tokens: true });

  // --help wins over every other problem, so that a confused user always gets the help.
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
    return { command, options: {}, args: {}, json: false, verbose: false, help: true };
  }
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const knownFlags = Object.keys(specs).map((n) => `--${n}`);
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    if (!spec) {
      const guess = token.rawName.startsWith('--') ? closest(token.rawName, knownFlags) : undefined;
      throw bad(`unknown option '${token.rawName}'${guess ? ` (did you mean '${guess}'?)` : ''}`);
    }
    const flag = `--${token.name}`;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw bad(`${flag} takes no value (got '${token.value}')`);
      values[token.name] = true;
      continue;
    }
    const placeholder = spec.valueName ?? 'VALUE';
    if (token.value === undefined) throw bad(`${token.rawName} needs a value: ${token.rawName} ${placeholder}`);
    if (!token.inlineValue && token.value.startsWith('-') && token.value.length > 1) {
      throw bad(`${token.rawName} needs a value, but got the flag '${token.value}' (to pass a value starting with '-', write ${flag}=${token.value})`);
    }
    if (spec.choices && !spec.choices.includes(token.value)) {
      throw bad(`${flag} must be one of ${spec.choices.join(', ')} (got '${token.value}')`);
    }
    if (spec.multiple) {
      ((values[token.name] ??= []) as string[]).push(token.value);
    } else {
      if (values[token.name] !== undefined) throw bad(`${flag} was given twice`);
      values[token.name] = token.value;
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (values[name] !== undefined) continue;
    if (spec.type === 'boolean') values[name] = spec.default ?? false;
    else if (spec.multiple) values[name] = [...(spec.default ?? [])];
    else if (spec.default !== undefined) values[name] = spec.default;
    else if (spec.required) throw bad(`--${name} is required (${`--${name} ${spec.valueName ?? 'VALUE'}`})`);
  }

  const args: Record<string, unknown> = {};
  const declared = command.positionals ?? [];
  let next = 0;
  for (const p of declared) {
    if (p.variadic) {
      args[p.name] = positionals.slice(next);
      if (!p.optional && positionals.length <= next) throw bad(`missing <${p.name}>: ${p.description}`);
      next = positionals.length;
    } else if (next < positionals.length) {
      args[p.name] = positionals[next++];
    } else if (!p.optional) {
      throw bad(`missing <${p.name}>: ${p.description}`);
    }
  }
  if (next < positionals.length) {
    throw bad(`unexpected argument '${positionals[next]}'${declared.length ? '' : ` (${program} ${command.name} takes no arguments)`}`);
  }
  const { json, verbose, help: _help, ...options } = values;
  return { command, options, args, json: json === true, verbose: verbose === true, help: false };
}

// ───────────────────────────── running ─────────────────────────────

export interface Cli {
  /** Run one command line (without the program name). Resolves to the exit code; never throws. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
  /** The --help text for a command path ('' for the top level). */
  help(path: string): string;
}

const writeLine = (stream: CliIo['stdout'], text: string): void => {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
};

function errorChain(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current) parts.push('caused by:');
  }
  return parts.join('\n');
}

/** Report an error on stderr (and as JSON on stdout under --json); returns the exit code. */
export function reportError(program: string, thrown: unknown, io: CliIo, flags: { json: boolean; verbose: boolean }): number {
  // An optional package left out of a device install: one line naming it, exit 2.
  const err = (isKilnError(thrown) ? undefined : missingPackageError(thrown)) ?? thrown;
  const kiln = isKilnError(err);
  const message = err instanceof Error ? err.message : String(err);
  const exitCode = kiln ? err.exitCode : 1;
  const firstLine = (s: string): string => s.split('\n')[0];
  if (kiln) {
    writeLine(io.stderr, `${program}: ${message}`);
  } else {
    const hint = flags.verbose ? '' : ' (run again with --verbose for the stack trace, and please report it)';
    writeLine(io.stderr, `${program}: unexpected error: ${firstLine(message)}${hint}`);
  }
  if (flags.verbose) writeLine(io.stderr, errorChain(err));
  if (flags.json) {
    writeLine(io.stdout, JSON.stringify({ error: { code: kiln ? err.code : 'INTERNAL', message, exitCode } }, null, 2));
  }
  return exitCode;
}

export function createCli(spec: CliSpec): Cli {
  const root = buildTree(spec);
  const program = spec.name;

  const helpFor = (node: Node): string => (node.command ? commandHelp(program, node.command) : groupHelp(spec, node));

  async function run(argv: readonly string[], io: CliIo): Promise<number> {
    // Global flags are honoured even when parsing fails, so --verbose shows the stack of a bad call.
    const before = argv.indexOf('--');
    const globalArgs = before === -1 ? argv : argv.slice(0, before);
    const flags = { json: globalArgs.includes('--json'), verbose: globalArgs.includes('--verbose') };
    try {
      // `kiln help models list` ≡ `kiln models list --help`
      const topic = argv[0] === 'help' ? spec.topics?.[argv[1]] : undefined;
      if (topic && argv.slice(2).every((a) => a === '--json')) {
        io.stdout.write(topic.render(flags.json));
        return 0;
      }
      if (argv[0] === 'help') return run([...argv.slice(1), '--help'], io);
      const found = resolve(root, argv);
      const wantsHelp = found.rest.some((t) => t === '--help' || t === '-h');
      if (found.kind === 'unknown') {
        const where = [program, ...found.node.path].join(' ');
        const guess = closest(found.word, found.node.children.keys());
        throw new KilnError(
          'USAGE',
          `unknown command '${[...found.node.path, found.word].join(' ')}'${guess ? ` (did you mean '${[...found.node.path, guess].join(' ')}'?)` : ''}`,
          {
            hint: `see ${where} --help`,
          },
        );
      }
      if (found.kind === 'group') {
        if (wantsHelp) {
          io.stdout.write(helpFor(found.node));
          return 0;
        }
        if (found.node.path.length === 0 && found.rest.includes('--version')) {
          const versions = await spec.version();
          writeLine(io.stdout, flags.json ? JSON.stringify(versions, null, 2) : table(Object.entries(versions)));
          return 0;
        }
        if (found.node.path.length === 0) {
          const stray = found.rest.find((t) => t !== '--json' && t !== '--verbose');
          if (stray) throw new KilnError('USAGE', `unknown option '${stray}'`, { hint: `see ${program} --help` });
          io.stdout.write(helpFor(found.node));
          return 0;
        }
        const where = [program, ...found.node.path].join(' ');
        const subs = [...found.node.children.keys()].join(', ');
        throw new KilnError('USAGE', `'${where}' needs a command: ${subs}`, { hint: `see ${where} --help` });
      }
      const command = found.node.command!;
      const parsed = parseCommandArgs(program, command, found.rest);
      if (parsed.help) {
        io.stdout.write(helpFor(found.node));
        return 0;
      }
      flags.json = parsed.json;
      flags.verbose = parsed.verbose;
      const ctx: CommandContext = {
        options: parsed.options as CommandContext['options'],
        args: parsed.args as CommandContext['args'],
        json: parsed.json,
        verbose: parsed.verbose,
        io,
        print: (text = '') => writeLine(io.stdout, text),
        printJson: (value) => writeLine(io.stdout, JSON.stringify(value, jsonReplacer, 2)),
        warn: (text) => writeLine(io.stderr, `${program}: warning: ${text}`),
        usageError: (message) => new KilnError('USAGE', message, { hint: `see ${program} ${command.name} --help` }),
      };
      const code = await command.run(ctx);
      return typeof code === 'number' ? code : 0;
    } catch (err) {
      return reportError(program, err, io, flags);
    }
  }

  return {
    run,
    help(path: string) {
      let node = root;
      for (const word of path.split(' ').filter(Boolean)) {
        const child = node.children.get(word);
        if (!child) throw new RangeError(`help('${path}'): no command or group '${word}'`);
        node = child;
      }
      return helpFor(node);
    },
  };
}

/** JSON.stringify replacer: bigint as number when safe (else string), typed arrays as arrays. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}
