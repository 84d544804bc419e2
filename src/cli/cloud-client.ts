/**
 * The cloud API as every CLI command that talks to a running cloud calls it (`kiln deploy`,
 * `kiln deployments …`, `kiln plan|apply|drift`, `kiln devices …`): the options every such command
 * takes, the operator token (--token, KILN_CLOUD_TOKEN, or the api-token file beside --db) and one
 * request function that returns the status and the JSON body, so that a command can read a refusal's
 * details (problems, a new plan).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KilnError } from '../errors.js';

/** --cloud-url, --token, --db: the same for every command that calls the cloud. */
export const cloudOptions = {
  'cloud-url': { type: 'string', valueName: 'URL', description: 'the cloud API (default: KILN_CLOUD_URL, else http://127.0.0.1:8300)' },
  token: { type: 'string', valueName: 'TOKEN', description: 'the operator token (default: KILN_CLOUD_TOKEN, else api-token beside --db)' },
  db: { type: 'string', valueName: 'FILE', description: 'the cloud database whose api-token file to read (default: ./.kiln-cloud/cloud.db)' },
} as const;

export interface CloudCtx {
  io: { cwd: string; env: Readonly<Record<string, string | undefined>> };
  options: { 'cloud-url'?: string; token?: string; db?: string };
}

export const cloudUrl = ({ io, options }: CloudCtx): string => (options['cloud-url'] ?? io.env.KILN_CLOUD_URL ?? 'http://127.0.0.1:8300').replace(/\/+$/, '');

function tokenOf({ io, options }: CloudCtx): string {
  const given = options.token ?? io.env.KILN_CLOUD_TOKEN;
  if (given) return given;
  const file = join(dirname(resolve(io.cwd, options.db ?? '.kiln-cloud/cloud.db')), 'api-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new KilnError('UNAUTHORIZED', `no operator token: pass --token, set KILN_CLOUD_TOKEN, or point --db at the cloud database (looked for ${file})`);
}

export interface ApiAnswer {
  status: number;
  ok: boolean;
  data: any;
}

/** Call the API and return whatever it answered (a network failure throws a KilnError saying how to start the cloud). */
export async function callCloud(ctx: CloudCtx, method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer> {
  return send(ctx, method, path, body === undefined ? undefined : { bytes: JSON.stringify(body), contentType: 'application/json' });
}

/** POST `bytes` (e.g. an artifact's .tgz) as they are, with `contentType`, and return whatever the API answered. */
export async function uploadToCloud(ctx: CloudCtx, path: string, bytes: Uint8Array, contentType: string): Promise<ApiAnswer> {
  return send(ctx, 'POST', path, { bytes, contentType });
}

async function send(ctx: CloudCtx, method: 'GET' | 'POST', path: string, body?: { bytes: string | Uint8Array; contentType: string }): Promise<ApiAnswer> {
  const base = cloudUrl(ctx);
  const headers: Record<string, string> = { authorization: `Bearer ${tokenOf(ctx)}` };
  if (body) headers['content-type'] = body.contentType;
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { method, headers, ...(body ? { body: body.bytes as string | Uint8Array<ArrayBuffer> } : {}) });
  } catch (err) {
    const why = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new KilnError('CLOUD_UNREACHABLE', `cannot reach the cloud API at ${base}: ${why}`, { hint: 'start it with kiln cloud start, or pass --cloud-url' });
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  return { status: res.status, ok: res.ok, data };
}

/** The KilnError for a refusal, by the HTTP status: 401 UNAUTHORIZED, 404 NOT_FOUND, 409 DEPLOYMENT_CONFLICT (or NO_ARTIFACT), 413 PAYLOAD_TOO_LARGE, other 4xx REQUEST_REFUSED, 5xx INTERNAL. */
export function refusal(answer: ApiAnswer): KilnError {
  const d = answer.data ?? {};
  const s = answer.status;
  const code =
    d.error === 'no-artifact'
      ? 'NO_ARTIFACT'
      : s === 401
        ? 'UNAUTHORIZED'
        : s === 404
          ? 'NOT_FOUND'
          : s === 409
            ? 'DEPLOYMENT_CONFLICT'
            : s === 413
              ? 'PAYLOAD_TOO_LARGE'
              : s >= 500
                ? 'INTERNAL'
                : 'REQUEST_REFUSED';
  const hint = answer.status === 401 ? 'the token is in api-token beside the cloud database; pass --token or --db' : undefined;
  return new KilnError(code, `the cloud refused (${answer.status}${d.error ? ` ${d.error}` : ''}): ${d.message ?? JSON.stringify(d)}`, hint ? { hint } : {});
}

/** Call the API; a non-2xx answer becomes the KilnError of `refusal`. */
export async function cloudApi(ctx: CloudCtx, method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const answer = await callCloud(ctx, method, path, body);
  if (!answer.ok) throw refusal(answer);
  return answer.data;
}

/** '2025-01-02 03:04:05' (UTC) from ms or an ISO string; '-' for none. */
export const timeText = (t: number | string | null | undefined): string =>
  t === null || t === undefined ? '-' : new Date(t).toISOString().replace('T', ' ').slice(0, 19);

/** '42s ago', '5m ago', '3h ago', '2d ago' (from `now`, ms). */
export function ago(t: string | number | null | undefined, now = Date.now()): string {
  if (t === null || t === undefined) return 'never';
  const s = Math.max(0, Math.round((now - new Date(t).getTime()) / 1000));
  return s < 90 ? `${s}s ago` : s < 90 * 60 ? `${Math.round(s / 60)}m ago` : s < 36 * 3600 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`;
}
