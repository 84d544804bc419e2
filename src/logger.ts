/**
 * kiln's one logger interface: the agent and the cloud log through it (passed in; never console.* in
 * library code). The CLI gives it JSON lines on stderr, or a pretty one-line form on a terminal.
 */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

/** JSON lines (pino's shape: level, time, msg, fields) or a pretty line, written with `write`. */
export function createLogger(write: (line: string) => void, options: { level?: LogLevel; pretty?: boolean; name?: string } = {}): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const name = options.name ?? 'kiln-agent';
  const emit =
    (level: Exclude<LogLevel, 'silent'>) =>
    (msg: string, fields: LogFields = {}) => {
      if (LEVELS[level] < min) return;
      if (options.pretty) {
        const extra = Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        write(`${new Date().toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}${extra ? `  ${extra}` : ''}\n`);
      } else {
        write(`${JSON.stringify({ level: LEVELS[level], time: Date.now(), name, msg, ...fields })}\n`);
      }
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
