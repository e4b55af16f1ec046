/** Every way a WHIP request can fail, with its HTTP status and a message that says what to do. */
export type WhipErrorCode =
  | 'UNKNOWN_STREAM'
  | 'UNAUTHORIZED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BODY_TOO_LARGE'
  | 'MALFORMED_SDP'
  | 'NO_VIDEO'
  | 'UNSUPPORTED_CODEC'
  | 'NEGOTIATION_FAILED'
  | 'ALREADY_PUBLISHING'
  | 'TOO_MANY_PUBLISHERS'
  | 'SHUTTING_DOWN'
  | 'UNKNOWN_RESOURCE'
  | 'NOT_SUPPORTED';

export const WHIP_ERROR_HTTP: Record<WhipErrorCode, number> = {
  UNKNOWN_STREAM: 404,
  UNAUTHORIZED: 401,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BODY_TOO_LARGE: 413,
  MALFORMED_SDP: 400,
  NO_VIDEO: 400,
  UNSUPPORTED_CODEC: 400,
  NEGOTIATION_FAILED: 400,
  ALREADY_PUBLISHING: 409,
  TOO_MANY_PUBLISHERS: 503,
  SHUTTING_DOWN: 503,
  UNKNOWN_RESOURCE: 404,
  NOT_SUPPORTED: 405,
};

export class WhipError extends Error {
  /** The stream sessions refused (and counted) it; the ingest must not count it again. */
  countedByRegistry = false;

  constructor(readonly code: WhipErrorCode, message: string) {
    super(message);
    this.name = 'WhipError';
  }

  get status(): number {
    return WHIP_ERROR_HTTP[this.code];
  }
}

/** The `reason` label of kibitz_publishes_refused_total, shared with RTMP where they mean the same. */
export function refusedReason(code: WhipErrorCode): string {
  switch (code) {
    case 'UNKNOWN_STREAM':
    case 'UNAUTHORIZED':
      return 'unknown-key';
    case 'ALREADY_PUBLISHING':
      return 'busy';
    default:
      return code.toLowerCase().replace(/_/g, '-');
  }
}
