/**
 * The streams a command writes to. Commands never touch `process.stdout`/`process.stderr`: they get a
 * `CliIo`, which `runMain` builds from the process and tests build with `captureIo()`.
 */

/** The part of a writable stream that commands use. `process.stdout` satisfies it. */
export interface CliWriter {
  write(text: string): unknown;
  /** True when the stream is a terminal (progress bars, colour). */
  isTTY?: boolean;
  /** Terminal width, when known. */
  columns?: number;
}

export interface CliIo {
  stdout: CliWriter;
  stderr: CliWriter;
  /** Directory relative paths are resolved against. */
  cwd: string;
  /** Environment variables (`KILN_*` configuration). */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * Ask the person at the terminal a question; resolves to the line they type. Absent when stdin is
   * not a terminal (scripts, CI, tests): a command that needs a confirmation then asks for --yes.
   */
  prompt?(question: string): Promise<string>;
}

export interface CapturedIo extends CliIo {
  /** Everything written to stdout so far. */
  readonly out: string;
  /** Everything written to stderr so far. */
  readonly err: string;
}

/** An io that records what commands write, for tests and for callers that want the text. */
export function captureIo(options: { cwd?: string; env?: Record<string, string | undefined>; columns?: number } = {}): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: { write: (text: string) => (out += text), isTTY: false, columns: options.columns },
    stderr: { write: (text: string) => (err += text), isTTY: false, columns: options.columns },
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? {},
    get out() {
      return out;
    },
    get err() {
      return err;
    },
  };
}
