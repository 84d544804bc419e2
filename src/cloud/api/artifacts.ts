/**
 * The artifact upload route of the cloud API (registered by createCloudApi); the operator token is
 * checked by the API's /api/* hook:
 *
 * - POST /api/artifacts[?model=NAME&version=V], body: the artifact's .tgz (content-type
 *   application/gzip or application/octet-stream) → 201 {created: true, artifact} for a new artifact,
 *   200 {created: false, artifact} when exactly this one is already registered. 400 `bad-artifact`
 *   with `problems` (every one: signature, schema, each file's hash) and nothing stored; 400
 *   `bad-request` when model/version are not the signed manifest's; 409 `artifact-conflict` when a
 *   different artifact is registered for the same model, version and target; 413 `too-large` past the
 *   upload limit (checked against Content-Length first, then while the body streams in).
 *
 * The body streams to a temp file (never held in memory), goes through ModelRegistry.pushArtifact
 * exactly as `kiln push --db` does, and is removed. Which signers are accepted is the cloud's setting
 * (`trustedKeys`), never the uploader's.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isKilnError } from '../../errors.js';
import { ArtifactRefusedError, type ModelRegistry } from '../registry/registry.js';

/** The largest upload accepted unless configured: 512 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 512 * 2 ** 20;

export interface ArtifactRoutesOptions {
  registry: ModelRegistry;
  /** The largest artifact .tgz accepted, in bytes. @default DEFAULT_MAX_UPLOAD_BYTES */
  maxUploadBytes?: number;
  /** Raw ed25519 public keys (base64) an uploaded artifact's signer must be one of. @default any valid signature (as `kiln push --db` without --trust) */
  trustedKeys?: readonly string[];
  /** Where uploads are written while they are checked. @default os.tmpdir() */
  tempDir?: string;
}

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' }, problems: { type: 'array', items: { type: 'string' } } },
  required: ['error', 'message'],
  additionalProperties: true,
} as const;
const uploadQuery = {
  type: 'object',
  properties: { model: { type: 'string', minLength: 1, maxLength: 128 }, version: { type: 'string', minLength: 1, maxLength: 128 } },
  additionalProperties: false,
} as const;
const UPLOAD_TYPES = ['application/gzip', 'application/x-gzip', 'application/octet-stream'];

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 1)} MiB`;

/** Write `source` to `file`, stopping (without reading further) once more than `limit` bytes came. */
function receive(source: Readable, file: string, limit: number): Promise<{ bytes: number; over: boolean }> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    let bytes = 0;
    let settled = false;
    const settle = (err: Error | null, over = false) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      if (err) {
        out.destroy();
        reject(err);
      } else if (over) {
        source.pause();
        out.destroy();
        resolve({ bytes, over: true });
      } else resolve({ bytes, over: false });
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) return settle(null, true);
      if (!out.write(chunk)) {
        source.pause();
        out.once('drain', () => source.resume());
      }
    };
    source.on('data', onData);
    source.once('end', () => out.end());
    source.once('error', (err) => settle(err));
    source.once('aborted', () => settle(new Error('the client aborted the upload')));
    out.once('error', (err) => settle(err));
    out.once('finish', () => settle(null));
  });
}

export function registerArtifactRoutes(app: FastifyInstance, options: ArtifactRoutesOptions): void {
  const { registry } = options;
  const limit = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError(`registerArtifactRoutes: maxUploadBytes must be a positive integer, got ${String(options.maxUploadBytes)}`);
  const trustedKeys = options.trustedKeys?.length ? Object.freeze([...options.trustedKeys]) : undefined;
  const tooLarge = (reply: FastifyReply, what: string) =>
    reply
      .code(413)
      .header('connection', 'close')
      .send({ error: 'too-large', message: `the upload (${what}) is over this cloud's limit of ${mib(limit)} per artifact`, limitBytes: limit });

  // The .tgz content types pass the request stream through untouched (only in this scope: elsewhere they stay 415).
  app.register(async (scope) => {
    scope.addContentTypeParser(UPLOAD_TYPES, (_req, payload, done) => done(null, payload));

    scope.post<{ Querystring: { model?: string; version?: string }; Body: Readable }>(
      '/api/artifacts',
      { schema: { querystring: uploadQuery, response: { 400: errorBody, 401: errorBody, 409: errorBody, 413: errorBody, 415: errorBody } } },
      async (req, reply) => {
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > limit) return tooLarge(reply, `${mib(declared)}`);
        if (!req.body || typeof (req.body as Readable).on !== 'function') {
          return reply
            .code(400)
            .send({ error: 'bad-request', message: `send the artifact's .tgz as the body, with content-type ${UPLOAD_TYPES.join(' or ')}` });
        }
        // The answer is decided with the temp file, which is gone before anything is sent.
        const dir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'kiln-upload-'));
        const file = join(dir, 'artifact.tgz');
        const inWords = (m: string) => m.split(`${file}: `).join('').split(file).join('the upload');
        let answer: { status: number; body: Record<string, unknown> } | 'too-large';
        try {
          answer = await (async () => {
            const got = await receive(req.body, file, limit);
            if (got.over) return 'too-large' as const;
            if (!got.bytes) return { status: 400, body: { error: 'bad-request', message: "the body is empty: send the artifact's .tgz" } };
            try {
              // Model weights hardly compress: a small upload that unpacks to gigabytes is a gzip bomb, not an artifact.
              const maxUnpackedBytes = Math.max(2 * limit, 64 * 2 ** 20);
              const r = await registry.pushArtifact(file, {
                model: req.query.model,
                version: req.query.version,
                maxUnpackedBytes,
                ...(trustedKeys ? { trustedKeys } : {}),
              });
              return { status: r.created ? 201 : 200, body: { created: r.created, artifact: r.artifact } };
            } catch (err) {
              if (!isKilnError(err)) throw err;
              const message = inWords(err.message);
              if (err.code === 'BAD_ARTIFACT')
                return {
                  status: 400,
                  body: {
                    error: 'bad-artifact',
                    message,
                    problems: err instanceof ArtifactRefusedError ? err.problems.map(inWords) : [inWords(err.message.split(' — ')[0])],
                  },
                };
              if (err.httpStatus === 400) return { status: 400, body: { error: 'bad-request', message } };
              if (err.code === 'ARTIFACT_CONFLICT') return { status: 409, body: { error: 'artifact-conflict', message } };
              throw err;
            }
          })();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        if (answer === 'too-large') return tooLarge(reply, `more than ${mib(limit)}`);
        return reply.code(answer.status).send(answer.body);
      },
    );
  });
}
