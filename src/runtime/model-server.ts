/**
 * Models in a long-lived child process (child/serve-models.cjs): plain node, or an arm64 node under
 * qemu (src/runtime/emulation.ts). A model is loaded once; samples go in and outputs come back as
 * length-prefixed binary frames over the child's stdin/stdout, so a sample costs one copy each way.
 *
 * The child never outlives its use: close() ends it, a crash or a timeout kills it and rejects every
 * pending request with a KilnError('EMULATION') that names the runtime and what to do, and an idle
 * child keeps no reference on this process's event loop (it is killed when this process exits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors.js';
import type { NamedTensors, TensorData, TensorType } from './backend.js';
import { typedArrayFor } from '../numerics/tensor.js';
import type { ChildLauncher } from './launcher.js';

export const MODEL_SERVER_SCRIPT = fileURLToPath(new URL('./child/serve-models.cjs', import.meta.url));

export interface ModelServerOptions {
  /** What runs the models, for messages: 'onnxruntime-node 1.30.0 linux/arm64 under qemu-aarch64-static (cortex-a76)'. */
  name: string;
  /** What to do when it fails, appended to every error. */
  hint?: string;
  /** Longest wait for the child to start and load onnxruntime. @default 120_000 */
  startTimeoutMs?: number;
  /** Longest wait for one model to load. @default 300_000 */
  loadTimeoutMs?: number;
  /** Longest wait for one sample. @default 120_000 */
  runTimeoutMs?: number;
}

export interface ServerLoadOptions {
  /** Intra-op threads (0 / undefined: the runtime's default). */
  threads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface ServedModel {
  run(feeds: NamedTensors): Promise<NamedTensors>;
  release(): Promise<void>;
}

export interface ModelServer {
  /** The child's process id (undefined before it started or after it ended). */
  readonly pid: number | undefined;
  /** What the child reported when it started: its arch, node and onnxruntime versions. */
  readonly info: { arch: string; node: string; version: string } | undefined;
  load(bytes: Uint8Array, options?: ServerLoadOptions): Promise<ServedModel>;
  /** End the child (models still loaded are dropped). Safe to call twice. */
  close(): Promise<void>;
}

/** What a signal means for an emulated runtime, in words. */
const SIGNALS: Record<string, string> = {
  SIGILL: "illegal instruction: the emulated CPU lacks an instruction the kernels use (QEMU_CPU and the sysroot's proc/cpuinfo must agree)",
  SIGSEGV: 'segmentation fault',
  SIGBUS: 'bus error',
  SIGABRT: 'aborted',
  SIGKILL: 'killed: out of memory, or by kiln after a timeout',
};

// Children alive now, killed if this process exits with them still running.
const live = new Set<ChildProcess>();
let exitHook = false;
const killAll = () => {
  for (const c of live) c.kill('SIGKILL');
};

interface Pending {
  what: string;
  resolve: (frame: { header: Record<string, unknown>; payload: Buffer }) => void;
  reject: (err: Error) => void;
}

const frame = (header: unknown, payloads: readonly Uint8Array[] = []): Buffer[] => {
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(8);
  head.writeUInt32LE(json.byteLength, 0);
  head.writeUInt32LE(
    payloads.reduce((n, p) => n + p.byteLength, 0),
    4,
  );
  return [head, json, ...payloads.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))];
};

/** Start a model server: resolves once the child has loaded onnxruntime and said so. */
export async function startModelServer(launcher: ChildLauncher, options: ModelServerOptions): Promise<ModelServer> {
  const { name, hint } = options;
  const fail = (message: string, cause?: unknown, code: 'RUNTIME_CRASH' | 'RUNTIME_LOAD' | 'MODEL_RUN_FAILED' | 'INTERNAL' = 'RUNTIME_CRASH') =>
    new KilnError(code, `${name}: ${message}`, { hint, cause });

  if (!exitHook) {
    process.once('exit', killAll);
    exitHook = true;
  }
  const child = spawn(launcher.command, [...launcher.args, MODEL_SERVER_SCRIPT], {
    env: { ...process.env, ...launcher.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  let buffered: Buffer = Buffer.alloc(0);
  let ended: Error | undefined;
  let info: ModelServer['info'];
  const queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let nextId = 0;

  // Idle: nothing of the child's keeps this process alive. Busy: the pipes do, until the answer.
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as { ref?(): void; unref?(): void }[];
  const hold = (on: boolean) => {
    for (const h of handles) (on ? h?.ref : h?.unref)?.call(h);
  };

  const tail = () => stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  let exited = false;
  // Pending requests fail once the process is gone: an error never leaves a process behind.
  const settle = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    live.delete(child);
    hold(false);
    for (const p of queue.splice(0)) p.reject(ended!);
  };
  const end = (err: Error) => {
    if (!ended) ended = err;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (exited || child.pid === undefined) return settle();
    // Held until it is gone, so that whoever awaits close() or an error sees it gone.
    hold(true);
    child.kill('SIGKILL');
  };
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const head = queue[0];
    if (!head) return hold(false);
    hold(true);
    const ms =
      head.what === 'start'
        ? (options.startTimeoutMs ?? 120_000)
        : head.what.startsWith('load')
          ? (options.loadTimeoutMs ?? 300_000)
          : (options.runTimeoutMs ?? 120_000);
    const limit = ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
    timer = setTimeout(
      () =>
        end(
          fail(
            `no answer to ${head.what} within ${limit}; the process was killed (emulation is 10–100× slower than native: a large model may need a longer limit)`,
          ),
        ),
      ms,
    );
  };

  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 8) {
      const headerLength = buffered.readUInt32LE(0);
      const payloadLength = buffered.readUInt32LE(4);
      if (buffered.length < 8 + headerLength + payloadLength) break;
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(buffered.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
      } catch {
        end(fail(`sent something that is not a frame on stdout (${JSON.stringify(buffered.subarray(0, 40).toString('latin1'))}…)`));
        return;
      }
      const payload = buffered.subarray(8 + headerLength, 8 + headerLength + payloadLength);
      buffered = buffered.subarray(8 + headerLength + payloadLength);
      const p = queue.shift();
      if (!p) continue;
      if (header.ok) p.resolve({ header, payload });
      else if (header.fatal) end(fail(String(header.error)));
      else p.reject(fail(`${p.what} failed: ${String(header.error)}`, undefined, p.what.startsWith('load') ? 'RUNTIME_LOAD' : 'MODEL_RUN_FAILED'));
      arm();
    }
  });
  child.on('error', (err) => end(fail(`could not start ${launcher.command}: ${err.message}`, err)));
  child.on('exit', () => {
    exited = true;
    if (ended) settle();
  });
  // 'close': the process has ended and its pipes are drained (stderr's last words included).
  child.on('close', (code, signal) => {
    exited = true;
    if (ended) return settle();
    const why = signal ? `died with ${signal}${SIGNALS[signal] ? ` (${SIGNALS[signal]})` : ''}` : `exited with code ${code}`;
    const doing = queue[0] ? ` during ${queue[0].what}` : '';
    end(fail(`the process ${why}${doing}${tail() ? `: ${tail()}` : ''}`));
  });
  // A closed pipe shows up as an exit too: its error only needs catching.
  child.stdin.on('error', () => {});

  const request = (what: string, header: unknown, payloads?: readonly Uint8Array[]) =>
    new Promise<{ header: Record<string, unknown>; payload: Buffer }>((resolve, reject) => {
      if (ended) return reject(ended);
      queue.push({ what, resolve, reject });
      if (queue.length === 1) arm();
      for (const b of frame(header, payloads)) child.stdin.write(b);
    });

  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    queue.push({ what: 'start', resolve: (f) => resolve(f.header), reject });
    arm();
  });
  info = { arch: String(ready.arch), node: String(ready.node), version: String(ready.version) };

  return {
    get pid() {
      return ended || exited ? undefined : child.pid;
    },
    get info() {
      return info;
    },
    async load(bytes, loadOptions = {}) {
      const id = ++nextId;
      await request(`loading model ${id}`, { op: 'load', id, options: loadOptions }, [bytes]);
      let released = false;
      return {
        async run(feeds) {
          if (released) throw new KilnError('INTERNAL', `${name}: model ${id} was released`);
          const inputs = Object.entries(feeds).map(([n, t]) => {
            const view = t.data as ArrayBufferView;
            return { name: n, type: t.type, dims: [...t.dims], bytes: new Uint8Array(view.buffer, view.byteOffset, view.byteLength) };
          });
          const { header, payload } = await request(
            `a sample on model ${id}`,
            { op: 'run', id, inputs: inputs.map((i) => ({ name: i.name, type: i.type, dims: i.dims, byteLength: i.bytes.byteLength })) },
            inputs.map((i) => i.bytes),
          );
          const out: NamedTensors = {};
          let offset = 0;
          for (const o of header.outputs as { name: string; type: TensorType; dims: number[]; byteLength: number }[]) {
            const copy = new Uint8Array(o.byteLength);
            copy.set(payload.subarray(offset, offset + o.byteLength));
            offset += o.byteLength;
            out[o.name] = { type: o.type, dims: o.dims, data: new (typedArrayFor(o.type) ?? Float32Array)(copy.buffer) };
          }
          return out;
        },
        async release() {
          if (released) return;
          released = true;
          if (!ended) await request(`releasing model ${id}`, { op: 'release', id });
        },
      };
    },
    async close() {
      const gone = exited || child.pid === undefined ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
      end(ended ?? new KilnError('INTERNAL', `${name}: the model server was closed`));
      await gone;
    },
  };
}
