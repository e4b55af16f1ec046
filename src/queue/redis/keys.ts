/** Every Redis key and BullMQ queue name kibitz uses, in one place. */
export class Keys {
  constructor(readonly prefix: string) {}
  /** ZSET worker id -> last heartbeat (ms). */
  get workers(): string { return `${this.prefix}:workers`; }
  /** HASH capacity, load, streams, pid, host, beat; expires when heartbeats stop. */
  worker(id: string): string { return `${this.prefix}:worker:${id}`; }
  /** SET of live stream names (ingest nodes add them). */
  get streams(): string { return `${this.prefix}:streams`; }
  /** HASH node, fps, width, height, startedAt, lastSeq, lastMs; expires when its ingest node stops refreshing it. */
  stream(name: string): string { return `${this.prefix}:stream:${name}`; }
  /** STRING owner worker id, PX lease. */
  lease(name: string): string { return `${this.prefix}:lease:${name}`; }
  /** HASH worker, seq, ms, at: the owner's progress (lag, replay cut-off). */
  progress(name: string): string { return `${this.prefix}:progress:${name}`; }
  /** STREAM of frames (exact MAXLEN). */
  frames(name: string): string { return `${this.prefix}:frames:${name}`; }
  /** STREAM of events/results for one ingest node. */
  nodeEvents(node: string): string { return `${this.prefix}:node:${node}:events`; }
  /** STRING result JSON: set once per question id, before the answer is published. */
  answered(id: string): string { return `${this.prefix}:answered:${id}`; }
  /** BullMQ prefix and the per-stream queue of questions/summaries (one consumer: the owner). */
  get bullPrefix(): string { return `${this.prefix}:bull`; }
  askQueue(stream: string): string { return `ask-${stream}`; }
}
