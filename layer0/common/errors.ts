// The one error type of Slipway: an HTTP status, a stable snake_case code, and whether the
// message may be shown to clients. Every edge (Koa, the agent's Docker API) maps it.

export const ERROR_STATUS = {
  invalid_params: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  image_not_found: 404,
  container_not_found: 404,
  exec_not_found: 404,
  app_not_found: 404,
  not_modified: 304,
  method_not_allowed: 405,
  unsupported_media_type: 415,
  conflict: 409,
  name_in_use: 409,
  not_running: 409,
  in_use: 409,
  payload_too_large: 413,
  unprocessable: 422,
  too_many_requests: 429,
  internal_error: 500,
  runtime_error: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface SlipwayErrorOptions {
  details?: unknown;
  cause?: unknown;
}

export class SlipwayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, opts: SlipwayErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SlipwayError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.expose = this.status < 500;
    this.details = opts.details;
  }
}

export function isSlipwayError(err: unknown): err is SlipwayError {
  return err instanceof SlipwayError;
}

/** Wraps anything thrown into a SlipwayError; unknown errors become a 500 that hides its text. */
export function toSlipwayError(err: unknown): SlipwayError {
  if (err instanceof SlipwayError) return err;
  return new SlipwayError('internal_error', 'internal error', { cause: err });
}
