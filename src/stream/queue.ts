/**
 * A bounded single-consumer queue: push never blocks and never grows past `capacity` — the
 * oldest item is dropped instead (and returned, so the caller can count it). Video frames
 * are worth less the older they get.
 */
export class DropOldestQueue<T> {
  private items: T[] = [];
  private waiter: ((v: IteratorResult<T>) => void) | null = null;
  private closed = false;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
  }

  /** Returns the dropped item, if the queue was full. */
  push(item: T): T | undefined {
    if (this.closed) return undefined;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: item, done: false });
      return undefined;
    }
    this.items.push(item);
    return this.items.length > this.capacity ? this.items.shift() : undefined;
  }

  get size(): number {
    return this.items.length;
  }

  /** Items still queued are delivered; then iteration ends. */
  close(): void {
    this.closed = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }

  /** Next item; `done` when closed and drained, or when `signal` aborts. */
  next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.closed || signal?.aborted) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error('DropOldestQueue has one consumer at a time'));
    return new Promise((resolve) => {
      const onAbort = () => {
        if (this.waiter === wrapped) this.waiter = null;
        resolve({ value: undefined, done: true });
      };
      const wrapped = (v: IteratorResult<T>) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      this.waiter = wrapped;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
