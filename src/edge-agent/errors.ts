/**
 * Errors the agent answers requests with: a KilnError('AGENT_REQUEST') that also carries the HTTP
 * status (400 bad tensors or JSON, 401 no/bad token, 404 unknown model or version, 405, 413 too
 * large, 503 not ready). The HTTP layer writes `{"error": message}` with that status.
 */
import { KilnError } from '../errors.js';

export class RequestError extends KilnError {
  override name = 'RequestError';
  readonly status: number;

  constructor(status: number, message: string) {
    super('AGENT_REQUEST', message);
    this.status = status;
  }
}

export const badRequest = (message: string): RequestError => new RequestError(400, message);
export const notFound = (message: string): RequestError => new RequestError(404, message);
