/**
 * Errors the agent answers requests with: a KilnError whose code follows the HTTP status it also
 * carries (400 bad tensors or JSON, 401 no/bad token, 404 unknown model or version, 405, 413 too
 * large: the caller's input; 500 the model run failed, 503 not ready: the agent's side, never
 * reported as bad input). The HTTP layer writes `{"error": message}` with that status.
 */
import { KilnError, type ErrorCode } from '../errors.js';

/** The catalogued code of an answer with this HTTP status. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 503) return 'AGENT_NOT_READY';
  if (status >= 500) return 'MODEL_RUN_FAILED';
  return 'AGENT_REQUEST';
}

export class RequestError extends KilnError {
  override name = 'RequestError';
  readonly status: number;

  constructor(status: number, message: string) {
    super(codeForStatus(status), message);
    this.status = status;
  }
}

export const badRequest = (message: string): RequestError => new RequestError(400, message);
export const notFound = (message: string): RequestError => new RequestError(404, message);
