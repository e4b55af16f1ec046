import type { KibitzEvent } from './events.ts';

/**
 * What the rest of kibitz asks of the model side, whether it runs in-process (embedded) or on
 * remote workers (redis). The HTTP API and the plugins talk only to this.
 */
export interface AskRequest {
  stream: string;
  question: string;
  /** Display name of the asker ("alice"), and where they asked ("http", "discord", "twitch"). */
  user?: string;
  source?: string;
  /** Idempotency key; generated when absent. */
  id?: string;
}

export interface AnswerResult {
  answer: string;
  /** Stream time (ms) at which the question entered the stream's context. */
  t: number;
  /** The `answer` event that was published for it. */
  event: KibitzEvent;
}

export interface SummaryResult {
  summary: string;
  /** Stream-time window covered, ms. */
  from: number;
  to: number;
}

export interface Brain {
  ask(req: AskRequest, signal?: AbortSignal): Promise<AnswerResult>;
  summary(stream: string, minutes: number, signal?: AbortSignal): Promise<SummaryResult>;
  /**
   * What viewers can ask on `stream` (chat's !help): the line a question of no kind gets
   * (src/questions/kinds.ts). Absent: the model side cannot say; askers get OPEN_HELP.
   */
  help?(stream: string): string;
}

export type BrainErrorCode =
  | 'UNKNOWN_STREAM' // 404
  | 'STREAM_ENDED' // 404
  | 'BAD_REQUEST' // 400: empty/oversized question, minutes out of range
  | 'BUSY' // 429: per-stream question queue full
  | 'NO_MODEL' // 503: no model loaded / no worker owns the stream
  | 'TIMEOUT'; // 504

export class BrainError extends Error {
  constructor(readonly code: BrainErrorCode, message: string) {
    super(message);
    this.name = 'BrainError';
  }
}

export const BRAIN_ERROR_HTTP: Record<BrainErrorCode, number> = {
  UNKNOWN_STREAM: 404, STREAM_ENDED: 404, BAD_REQUEST: 400, BUSY: 429, NO_MODEL: 503, TIMEOUT: 504,
};
