/**
 * Progress on stderr: a redrawn bar on a terminal, plain step lines otherwise (logs, CI).
 */
import type { CliWriter } from './io.js';

export interface Progress {
  step(name: string, detail?: string): void;
  update(label: string, done: number, total: number): void;
  warn(message: string): void;
  done(): void;
}

export function createProgress(stream: CliWriter, options: { quiet?: boolean } = {}): Progress {
  const tty = !!stream.isTTY && !options.quiet;
  let barShown = false;
  let started = performance.now();
  const clear = () => {
    if (barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };
  return {
    step(name, detail) {
      if (options.quiet) return;
      clear();
      const elapsed = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
      stream.write(`${elapsed}s  ${name.padEnd(10)} ${detail ?? ''}\n`);
    },
    update(label, done, total) {
      if (!tty) return;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 40));
      const filled = total > 0 ? Math.round((done / total) * width) : 0;
      stream.write(`\r\x1b[2K         ${label.padEnd(14)} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total}`);
      barShown = true;
    },
    warn(message) {
      clear();
      stream.write(`kiln: warning: ${message}\n`);
    },
    done() {
      clear();
      started = performance.now();
    },
  };
}
