import type { KibitzEvent } from '../../events.ts';
import { checkView, type FrameView } from '../../decode/filter.ts';
import type { Frame } from '../../frames.ts';

/**
 * Frames go into a per-stream Redis Stream as-is (no JSON, no base64): a few small fields and
 * the RGB bytes. Times cross processes as wall-clock ms, since performance.now() does not.
 */
export function frameFields(f: Frame): (string | Buffer)[] {
  const wall = performance.timeOrigin + f.decodedAt;
  const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
  return ['s', String(f.seq), 't', String(f.streamTimeMs), 'w', String(f.width), 'h', String(f.height), ...(f.view ? ['v', f.view.join(',')] : []), ...(f.placed ? ['p', f.placed] : []),
    'at', wall.toFixed(1), 'd', data];
}

/** Fields of one XREAD entry (alternating names and values, as Buffers) -> Frame; null when malformed. */
export function parseFrame(stream: string, fields: Buffer[]): Frame | null {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!.toString(), fields[i + 1]!);
  const num = (k: string) => Number(m.get(k)?.toString());
  const data = m.get('d');
  const seq = num('s');
  if (!data || !Number.isFinite(seq)) return null;
  const placed = m.get('p')?.toString();
  let view: FrameView | undefined;
  try {
    view = m.has('v') ? checkView(m.get('v')!.toString().split(',').map(Number)) : undefined;
  } catch {
    return null;
  }
  return {
    stream, seq, streamTimeMs: num('t'), width: num('w'), height: num('h'),
    ...(view ? { view } : {}),
    ...(placed === 'search' || placed === 'config' ? { placed } : {}),
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    // Back to this process's performance clock, so latency metrics work across processes on one host.
    decodedAt: num('at') - performance.timeOrigin,
  };
}

/** A question or summary job (BullMQ data). */
export interface AskJob {
  kind: 'ask' | 'summary';
  /** Question id (= BullMQ job id). */
  id: string;
  stream: string;
  /** The ingest node that waits for the result. */
  node: string;
  question?: string;
  user?: string;
  source?: string;
  minutes?: number;
  /** Wall ms when the ingest node enqueued it (latency). */
  at: number;
}

/** What a worker sends back for a job, once per question id. */
export interface JobResult {
  kind: 'ask' | 'summary';
  event: KibitzEvent;
  answer?: string;
  t?: number;
  summary?: string;
  from?: number;
  to?: number;
}

/** One entry of a node's event stream. */
export type NodeMessage =
  | { k: 'event'; event: KibitzEvent }
  | { k: 'result'; id: string; result: JobResult }
  | { k: 'error'; id: string; code: string; message: string };

export function parseNodeMessage(fields: string[]): NodeMessage | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  try {
    switch (m.get('k')) {
      case 'event': return { k: 'event', event: JSON.parse(m.get('e')!) as KibitzEvent };
      case 'result': return { k: 'result', id: m.get('q')!, result: JSON.parse(m.get('r')!) as JobResult };
      case 'error': return { k: 'error', id: m.get('q')!, code: m.get('c') ?? 'NO_MODEL', message: m.get('m') ?? '' };
      default: return null;
    }
  } catch {
    return null;
  }
}

/** Remembers the last `size` ids: events are published on the bus at most once. */
export class RecentIds {
  private readonly set = new Set<string>();
  constructor(private readonly size = 4096) {}
  /** true the first time an id is seen. */
  add(id: string): boolean {
    if (this.set.has(id)) return false;
    this.set.add(id);
    if (this.set.size > this.size) this.set.delete(this.set.values().next().value!);
    return true;
  }
}
