import type { EventBus } from '../bus.ts';

export type ContentState = 'recognised' | 'unrecognised';

/**
 * Per stream: does the model recognise what the stream shows? Read from the model's own status
 * events (`recognised` / `unrecognised`), so /api/streams says the same whether the model runs
 * in this process or on Redis workers. A stream that ends forgets its state.
 */
export class ContentStates {
  private readonly unrecognised = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe((ev) => {
      if (ev.kind !== 'status') return;
      if (ev.status === 'unrecognised') this.unrecognised.add(ev.stream);
      else if (ev.status === 'recognised' || ev.status === 'ended') this.unrecognised.delete(ev.stream);
    });
  }

  get(stream: string): ContentState {
    return this.unrecognised.has(stream) ? 'unrecognised' : 'recognised';
  }

  close(): void {
    this.unsubscribe();
  }
}
