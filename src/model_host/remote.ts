import { IngestNode } from '../queue/redis/ingest_node.ts';
import type { RedisQueueOptions } from '../queue/redis/options.ts';
import { LateBrain } from './late_brain.ts';
import type { ModelHost } from './port.ts';

export interface RemoteModelHost extends ModelHost {
  /** The ingest node, once `start` has resolved (cluster status, per-stream lag). */
  readonly ingest: IngestNode | undefined;
}

/**
 * `queue.kind: redis` on a `kibitz serve` node: this process ingests and forwards frames into
 * Redis; `kibitz worker` processes (worker.ts) run the model and send back what it says.
 * `start` returns at once: Redis connects in the background and is retried.
 */
export function remoteModelHost(overrides: Partial<RedisQueueOptions> = {}): RemoteModelHost {
  const brain = new LateBrain('no model worker is reachable yet (queue.kind redis): start `kibitz worker`');
  let ingest: IngestNode | undefined;
  let closing: Promise<void> | undefined;
  return {
    brain,
    get ingest() {
      return ingest;
    },
    async start(parts) {
      if (ingest) throw new Error('the Redis ingest host is already started');
      ingest = new IngestNode(parts, overrides);
      brain.serve(ingest.brain);
      parts.log.info({ node: ingest.node }, `ingest node ${ingest.node}: model work goes to workers through Redis`);
    },
    consume(session) {
      if (!ingest) throw new Error('the Redis ingest host takes sessions only after start()');
      ingest.consume(session);
    },
    streamInfo(name) {
      return ingest?.streamInfo(name) as Record<string, unknown> | undefined;
    },
    close() {
      closing ??= (async () => {
        brain.serve(undefined);
        await ingest?.close();
      })();
      return closing;
    },
  };
}
