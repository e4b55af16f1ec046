/** What kibitz says about a stream; the one shape for SSE, the timeline, plugins and webhooks. */
export type EventKind = 'commentary' | 'answer' | 'summary' | 'status';

export type StreamState = 'live' | 'reconnecting' | 'ended';

export interface KibitzEvent {
  /** Unique per event (ulid-like, sortable); also the idempotency key for deliveries. */
  id: string;
  stream: string;
  kind: EventKind;
  text: string;
  /** Milliseconds since the stream began (media time, continues across reconnects). */
  streamTimeMs: number;
  /** ISO 8601 wall-clock time the event was produced. */
  wallTime: string;
  /** Answers: the question and who asked it (and where: "http", "discord", "twitch"). */
  question?: string;
  user?: string;
  source?: string;
  /** Status events: the state or condition they report ("live", "reconnecting", "ended", "refused", "error"). */
  status?: string;
}

let counter = 0;
/** Sortable, unique-enough ids without a dependency: time in base36 + a counter + random. */
export function newEventId(now = Date.now()): string {
  counter = (counter + 1) % 1_679_616;
  return now.toString(36).padStart(9, '0') + counter.toString(36).padStart(4, '0') +
    Math.floor(Math.random() * 1_679_616).toString(36).padStart(4, '0');
}

/** Stream time as mm:ss, or h:mm:ss past the first hour. */
export function formatStreamTime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
