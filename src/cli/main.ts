/**
 * The `kiln` program. `runMain` is the only code in kiln that touches process.argv, process.exitCode
 * and the process's streams; everything else receives a CliIo.
 */
import { createCli, type Cli } from './framework.js';
import type { CliIo } from './io.js';
import { commands, groups } from './commands/index.js';
import { versions } from './versions.js';
import { errorsTopic } from './errors-topic.js';

export const cli: Cli = createCli({
  name: 'kiln',
  summary: 'compile ONNX models per hardware target, run them at the edge, roll them out to fleets',
  version: versions,
  commands,
  groups,
  topics: { errors: errorsTopic },
});

function processIo(): CliIo {
  // `kiln ... | head` closes the pipe early: that is not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  const prompt = async (question: string): Promise<string> => {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  };
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env, ...(interactive ? { prompt } : {}) };
}

/**
 * Run kiln. Without arguments: the process's command line and streams, and the exit code is set on
 * the process. With `argv` and `io` (tests, embedding): nothing global is touched.
 */
export async function runMain(argv?: readonly string[], io?: CliIo): Promise<number> {
  const real = io === undefined;
  const code = await cli.run(argv ?? process.argv.slice(2), io ?? processIo());
  if (real) process.exitCode = code;
  return code;
}
