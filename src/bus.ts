import { newEventId, type KibitzEvent } from './events.ts';

export type EventInput = Omit<KibitzEvent, 'id' | 'wallTime'> & Partial<Pick<KibitzEvent, 'id' | 'wallTime'>>;
export type Listener = (ev: KibitzEvent) => void;

/**
 * In-process fan-out of events to the timeline, SSE clients and plugins. Listeners run
 * synchronously and must not block; a throwing listener is reported and never affects others.
 */
export class EventBus {
  private readonly listeners = new Set<{ fn: Listener; stream?: string }>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  publish(input: EventInput): KibitzEvent {
    const ev: KibitzEvent = { ...input, id: input.id ?? newEventId(), wallTime: input.wallTime ?? new Date().toISOString() };
    for (const l of [...this.listeners]) {
      if (l.stream !== undefined && l.stream !== ev.stream) continue;
      try {
        l.fn(ev);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return ev;
  }

  /** Returns the unsubscribe function. `stream` limits delivery to one stream's events. */
  subscribe(fn: Listener, opts: { stream?: string } = {}): () => void {
    const entry = { fn, stream: opts.stream };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
