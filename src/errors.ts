/**
 * kiln's error catalogue. Every error a user can cause carries a stable code, says what was wrong and
 * where, and what to do. The CLI maps `exitCode` to the process exit status (2 = bad input,
 * 1 = the operation failed) and prints `message` without a stack trace unless --verbose.
 */

export const ErrorCodes = {
  /** A file does not exist or cannot be read. */
  FILE_NOT_FOUND: { exitCode: 2, summary: 'a file named on the command line or in a model does not exist' },
  /** The bytes are not an ONNX model (not protobuf, truncated, or not a ModelProto). */
  NOT_ONNX: { exitCode: 2, summary: 'the file is not a valid ONNX model' },
  /** A tensor's external data file is missing or too short. */
  EXTERNAL_DATA: { exitCode: 2, summary: 'external tensor data is missing or does not match the model' },
  /** A data type code that kiln does not know. */
  UNKNOWN_DTYPE: { exitCode: 2, summary: 'a tensor uses a data type kiln does not know' },
  /** The model imports an opset newer than kiln supports. */
  OPSET_UNSUPPORTED: { exitCode: 2, summary: 'the model needs an opset or IR version newer than kiln supports' },
  /** onnxruntime refused to load the model. */
  RUNTIME_LOAD: { exitCode: 2, summary: 'onnxruntime could not load the model' },
  /** A runtime in a child process (the arm64 one under qemu emulation, say) crashed, ran out of memory or did not answer in time. */
  RUNTIME_CRASH: { exitCode: 1, summary: 'a model runtime in a child process (e.g. arm64 under qemu) crashed, ran out of memory or time' },
  /** A command-line flag or option has a bad value. */
  BAD_OPTION: { exitCode: 2, summary: 'a flag or option has an invalid value' },
  /** A shape is needed (dynamic dimension) or does not fit the model. */
  BAD_SHAPE: { exitCode: 2, summary: 'an input shape is missing or does not fit the model' },
  /** A model in the zoo catalog is unknown, missing or has the wrong hash. */
  ZOO: { exitCode: 2, summary: 'a zoo model could not be resolved' },
  /** A TF.js model cannot be converted. */
  CONVERT: { exitCode: 2, summary: 'a TensorFlow.js model could not be converted to ONNX' },
  /** Calibration or evaluation data cannot be read or does not fit the model's inputs. */
  CALIBRATION_DATA: { exitCode: 2, summary: 'calibration or evaluation data cannot be read or does not fit the model' },
  /** The graph is malformed (cycle, dangling input, duplicate output). */
  BAD_GRAPH: { exitCode: 2, summary: 'the graph is malformed' },
  /** An artifact is malformed, unsigned, tampered with or signed by an untrusted key. */
  BAD_ARTIFACT: { exitCode: 2, summary: 'the artifact is malformed, tampered with or not trusted' },
  /** A different artifact is already registered for the same model, version and target. */
  ARTIFACT_CONFLICT: { exitCode: 2, summary: 'a different artifact is already registered for this model, version and target' },
  /** The registry holds no artifact for a model version on a target a deployment needs. */
  NO_ARTIFACT: { exitCode: 2, summary: 'the registry holds no artifact for this model version on a needed target' },
  /** The edge agent could not install an artifact (it failed a check, loading or its warm-up inference); the last good version keeps serving. */
  AGENT_INSTALL: { exitCode: 1, summary: 'the edge agent could not install an artifact; the last good version keeps serving' },
  /** The edge agent's configuration (flags, KILN_AGENT_* variables, YAML file) is invalid. */
  AGENT_CONFIG: { exitCode: 2, summary: "the edge agent's configuration is invalid" },
  /** The edge agent's data directory or state database cannot be used. */
  AGENT_STATE: { exitCode: 1, summary: "the edge agent's data directory or state database cannot be used" },
  /** An inference request names an unknown model or version, or has wrong tensors. */
  AGENT_REQUEST: { exitCode: 2, summary: 'an inference request does not fit the model (name, version, shape, dtype or size)' },
  /** No inference backend can run here as asked (runtime not installed, provider missing, all candidates failed). */
  BACKEND_UNAVAILABLE: { exitCode: 1, summary: 'no inference backend can run the model on this host as asked' },
  /** A deployment, device group or other named thing does not exist. */
  NOT_FOUND: { exitCode: 2, summary: 'a named deployment, device or group does not exist' },
  /** A deployment clashes with the fleet's state: id taken, devices busy, baseline unclear, target unknown. */
  DEPLOYMENT_CONFLICT: { exitCode: 2, summary: "a deployment cannot start in the fleet's current state" },
  /** A database kiln was pointed at (the registry's PostgreSQL) cannot be reached, refuses the login, or fails a query. */
  DATABASE: { exitCode: 1, summary: 'a database cannot be reached or used (server down, wrong address, login or permission refused)' },
  /** A command needs one of kiln's optional npm packages (a device install leaves them out), and it is not installed. */
  MISSING_PACKAGE: { exitCode: 2, summary: 'an optional npm package the command needs is not installed (the message names it)' },
  /** Something failed that is not the input's fault. */
  INTERNAL: { exitCode: 1, summary: 'kiln failed; please report it with --verbose output' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface KilnErrorOptions {
  /** What to do about it, appended to the message. */
  hint?: string;
  cause?: unknown;
}

export class KilnError extends Error {
  override name = 'KilnError';
  readonly code: ErrorCode;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(options.hint ? `${message} — ${options.hint}` : message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return ErrorCodes[this.code].exitCode;
  }
}

export const isKilnError = (err: unknown): err is KilnError => err instanceof KilnError;
