/**
 * The backend registry, after onnxruntime's `js/common/lib/backend-impl.ts`: backends register by name
 * with a priority; a request is resolved by name, by an artifact's target profile, or by priority among
 * the backends for the model's kind; each candidate is asked whether it can run here, and when none
 * can, one KilnError lists every candidate and why it failed.
 *
 * Initialization is once per backend: each backend imports its runtime lazily and keeps the answer of
 * every probe (module import, provider session, TF.js backend init). The registry does not cache
 * answers itself, because some depend on the process's state (ort-web's thread count is fixed by the
 * first load); it remembers the last answer per backend for reports (`lastStatus`).
 *
 * Library code takes a registry as a parameter where it can; `defaultBackendRegistry()` is the one
 * shared object (ort-node, ort-web, tfjs), replaceable in tests with `setDefaultBackendRegistry`.
 */
import { KilnError } from '../errors.js';
import { editDistance } from '../suggest.js';
import type { TargetProfile } from '../targets/profiles.js';
import type { Availability, BackendLoadOptions, InferenceBackend, ModelKind } from './backend.js';
import { createOrtNodeBackend } from './ort-node-backend.js';
import { createOrtWebBackend } from './ort-web-backend.js';
import { createTfjsBackend } from './tfjs-backend.js';

export interface RegisteredBackend {
  readonly name: string;
  readonly priority: number;
  readonly modelKind: ModelKind;
  readonly backend: InferenceBackend;
}

export interface ResolveRequest {
  /** A backend by name ('ort-node', 'ort-web', 'tfjs'). Wins over `target`'s backend. */
  name?: string;
  /** The artifact's target profile: its runtime.backend, execution providers, threads and optimization level. */
  target?: TargetProfile;
  /** The kind of model to run. */
  modelKind: ModelKind;
  /** Load options; they override the target's. */
  options?: BackendLoadOptions;
  /**
   * When the named or target backend cannot run here, try the others: the same backend on its CPU
   * provider, then every backend for `modelKind` by priority.
   * @default false (a GPU target on a host without its provider is an error, not a silent CPU run)
   */
  fallback?: boolean;
}

export interface FailedCandidate {
  readonly name: string;
  /** The providers asked of it, when any. */
  readonly executionProviders?: readonly string[];
  readonly reason: string;
}

export interface ResolvedBackend {
  readonly backend: InferenceBackend;
  /** The options to pass to `backend.load()` (the target's merged with the request's). */
  readonly options: BackendLoadOptions;
  /** Candidates tried before it, and why they could not run. */
  readonly skipped: readonly FailedCandidate[];
}

export interface BackendRegistry {
  /** Add a backend; a higher priority is tried first. Registering a name again replaces it. */
  register(backend: InferenceBackend, priority?: number): void;
  /** The backend of that name; an unknown name is a KilnError('UNKNOWN_BACKEND') listing the known ones. */
  get(name: string): InferenceBackend;
  has(name: string): boolean;
  /** Every backend, highest priority first (registration order among equals). */
  list(): readonly RegisteredBackend[];
  /** Ask one backend whether it can run here with these options (and remember the answer for `lastStatus`). */
  check(name: string, options?: BackendLoadOptions): Promise<Availability>;
  /** The last answer `check` or `resolve` got from a backend. */
  lastStatus(name: string): Availability | undefined;
  /** Pick the backend for a request, or throw KilnError('BACKEND_UNAVAILABLE') listing why each candidate failed. */
  resolve(request: ResolveRequest): Promise<ResolvedBackend>;
}

/** Priorities of the built-in backends: native onnxruntime before WASM. */
export const BUILTIN_PRIORITIES: Readonly<Record<string, number>> = Object.freeze({ 'ort-node': 100, 'ort-web': 50, tfjs: 50 });

/** Execution providers people sometimes pass as a backend name. */
const PROVIDER_NAMES = ['cpu', 'cuda', 'tensorrt', 'wasm', 'webgpu', 'xnnpack', 'tensorflow'];

/** The load options a target profile implies (threads 0 = one per core). */
export function optionsForTarget(profile: TargetProfile): BackendLoadOptions {
  return {
    executionProviders: [...profile.runtime.executionProviders],
    threads: profile.threads,
    optimization: profile.runtime.optimizationLevel,
  };
}

const providersText = (eps: readonly string[] | undefined): string => (eps?.length ? ` [${eps.join(', ')}]` : '');

function closestName(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const dist = editDistance(word.toLowerCase(), n);
    if (dist < bestD) [best, bestD] = [n, dist];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function createBackendRegistry(): BackendRegistry {
  const entries: RegisteredBackend[] = [];
  const last = new Map<string, Availability>();

  const sorted = (): RegisteredBackend[] =>
    entries
      .map((e, i) => ({ e, i }))
      .sort((a, b) => b.e.priority - a.e.priority || a.i - b.i)
      .map(({ e }) => e);

  const get = (name: string): InferenceBackend => {
    const found = entries.find((e) => e.name === name);
    if (found) return found.backend;
    const names = sorted().map((e) => e.name);
    const guess = typeof name === 'string' ? closestName(name, names) : undefined;
    const provider = PROVIDER_NAMES.includes(String(name).toLowerCase());
    throw new KilnError('UNKNOWN_BACKEND', `unknown backend '${String(name)}'${guess ? ` (did you mean '${guess}'?)` : ''}`, {
      hint: `backends: ${names.join(', ') || '(none registered)'}${provider ? `; '${name}' is an execution provider, not a backend: pass it in executionProviders (e.g. ort-node with ['${name}'])` : ''}`,
    });
  };

  const check = async (name: string, options: BackendLoadOptions = {}): Promise<Availability> => {
    const backend = get(name);
    let answer: Availability;
    try {
      answer = await backend.available(options);
    } catch (err) {
      // A bad option is the caller's mistake: let it through. Anything else marks the backend failed.
      if (err instanceof KilnError && err.code === 'BAD_OPTION') throw err;
      answer = { ok: false, reason: `available() failed: ${String((err as Error)?.message ?? err).split('\n')[0]}` };
    }
    last.set(name, answer);
    return answer;
  };

  const kindOf = (backend: InferenceBackend): ModelKind => backend.modelKind ?? 'onnx';
  const namesFor = (kind: ModelKind): string[] =>
    sorted()
      .filter((e) => e.modelKind === kind)
      .map((e) => e.name);

  const wrongKind = (name: string, kind: ModelKind, why: string): KilnError => {
    const others = namesFor(kind);
    return new KilnError('WRONG_BACKEND', `${why}: backend '${name}' loads ${kindOf(get(name))} models, not ${kind}`, {
      hint: others.length ? `for ${kind} models use ${others.join(' or ')}` : `no registered backend loads ${kind} models`,
    });
  };

  return {
    register(backend, priority = BUILTIN_PRIORITIES[backend?.name] ?? 0) {
      if (
        !backend ||
        typeof backend.name !== 'string' ||
        backend.name === '' ||
        typeof backend.available !== 'function' ||
        typeof backend.load !== 'function'
      ) {
        throw new TypeError('registerBackend: expected an InferenceBackend {name, describe, available, load}');
      }
      if (!Number.isFinite(priority)) throw new RangeError(`registerBackend('${backend.name}'): priority must be a finite number, got ${priority}`);
      const entry: RegisteredBackend = { name: backend.name, priority, modelKind: kindOf(backend), backend };
      const at = entries.findIndex((e) => e.name === backend.name);
      if (at >= 0) entries[at] = entry;
      else entries.push(entry);
      last.delete(backend.name);
    },
    get,
    has: (name) => entries.some((e) => e.name === name),
    list: () => sorted(),
    check,
    lastStatus: (name) => last.get(name),
    async resolve(request) {
      const { modelKind, target, fallback = false } = request;
      if (modelKind !== 'onnx' && modelKind !== 'tfjs') throw new KilnError('BAD_OPTION', `modelKind must be 'onnx' or 'tfjs', got '${String(modelKind)}'`);
      const extra = request.options ?? {};
      const candidates: { name: string; options: BackendLoadOptions }[] = [];
      const add = (name: string, options: BackendLoadOptions): void => {
        const key = JSON.stringify([name, options.executionProviders ?? null]);
        if (!candidates.some((c) => JSON.stringify([c.name, c.options.executionProviders ?? null]) === key)) candidates.push({ name, options });
      };

      let what: string;
      if (request.name !== undefined) {
        get(request.name); // unknown → BAD_OPTION listing the names
        if (kindOf(get(request.name)) !== modelKind) throw wrongKind(request.name, modelKind, `cannot run a ${modelKind} model on '${request.name}'`);
        const fromTarget = target && target.runtime.backend === request.name ? optionsForTarget(target) : {};
        add(request.name, { ...fromTarget, ...extra });
        what = `backend '${request.name}'`;
      } else if (target) {
        const name = target.runtime.backend;
        if (!entries.some((e) => e.name === name)) {
          if (!fallback) get(name);
        } else if (kindOf(get(name)) !== modelKind) {
          if (!fallback) throw wrongKind(name, modelKind, `target '${target.name}' runs on ${name}`);
        } else {
          add(name, { ...optionsForTarget(target), ...extra });
        }
        what = `target '${target.name}' (${name}${providersText(target.runtime.executionProviders)})`;
      } else {
        for (const name of namesFor(modelKind)) add(name, extra);
        what = modelKind === 'onnx' ? 'an ONNX model' : 'a TF.js model';
      }
      if (fallback && (request.name !== undefined || target)) {
        const first = candidates[0];
        if (first && (first.options.executionProviders ?? []).some((p) => p !== 'cpu' && p !== 'wasm')) {
          add(first.name, { ...first.options, executionProviders: ['cpu'] });
        }
        for (const name of namesFor(modelKind)) {
          if (!candidates.some((c) => c.name === name)) add(name, extra);
        }
      }
      if (candidates.length === 0) {
        throw new KilnError('BACKEND_UNAVAILABLE', `no registered backend loads ${modelKind} models`, {
          hint: `registered: ${
            sorted()
              .map((e) => e.name)
              .join(', ') || '(none)'
          }`,
        });
      }

      const skipped: FailedCandidate[] = [];
      for (const c of candidates) {
        const answer = await check(c.name, c.options);
        if (answer.ok) return { backend: get(c.name), options: c.options, skipped };
        skipped.push({ name: c.name, ...(c.options.executionProviders ? { executionProviders: c.options.executionProviders } : {}), reason: answer.reason });
      }
      const lines = skipped.map((s) => `  • ${s.name}${providersText(s.executionProviders)}: ${s.reason}`);
      throw new KilnError('BACKEND_UNAVAILABLE', `no backend can run ${what} on this host; tried ${skipped.length}:\n${lines.join('\n')}`, {
        hint:
          fallback || request.name !== undefined || !target
            ? 'install what a backend above lacks, or ask for another backend or provider'
            : 'install what it lacks, or pass fallback: true to try the other backends',
      });
    },
  };
}

/** A registry holding kiln's built-in backends: ort-node (100), ort-web (50), tfjs (50). Nothing is loaded until asked. */
export function createDefaultBackendRegistry(): BackendRegistry {
  const registry = createBackendRegistry();
  registry.register(createOrtNodeBackend(), BUILTIN_PRIORITIES['ort-node']);
  registry.register(createOrtWebBackend(), BUILTIN_PRIORITIES['ort-web']);
  registry.register(createTfjsBackend(), BUILTIN_PRIORITIES.tfjs);
  return registry;
}

let defaultRegistry: BackendRegistry | undefined;

/** The shared registry (built-in backends), created on first use. */
export function defaultBackendRegistry(): BackendRegistry {
  return (defaultRegistry ??= createDefaultBackendRegistry());
}

/** Replace the shared registry (tests); undefined goes back to a fresh built-in one on next use. Returns the previous one. */
export function setDefaultBackendRegistry(registry: BackendRegistry | undefined): BackendRegistry | undefined {
  const previous = defaultRegistry;
  defaultRegistry = registry;
  return previous;
}

/** Register a backend in the shared registry. */
export function registerBackend(backend: InferenceBackend, priority?: number): void {
  defaultBackendRegistry().register(backend, priority);
}

/** A backend of the shared registry by name (unknown → KilnError listing the names). */
export function getBackend(name: string): InferenceBackend {
  return defaultBackendRegistry().get(name);
}

/** Resolve a request against `registry` (default: the shared one). */
export function resolveBackend(request: ResolveRequest, registry: BackendRegistry = defaultBackendRegistry()): Promise<ResolvedBackend> {
  return registry.resolve(request);
}
