import { EventBus } from '../bus.ts';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log.ts';
import type { EngineOptions, ModelEngine } from '../model/engine.ts';
import { Model } from '../model/model.ts';
import { defaultNodeId, redisQueueOptions, safeUrl, type RedisQueueOptions } from '../queue/redis/options.ts';
import type { WorkerHooks } from '../queue/redis/owned_stream.ts';
import { WorkerNode } from '../queue/redis/worker_node.ts';
import { engineFor } from './engine_for.ts';

export interface RunWorkerOptions {
  log?: Logger;
  /** Overrides of the `queue:` slice (tests: short leases). */
  queue?: Partial<RedisQueueOptions>;
  /** Engine overrides (tests: threshold 1.0 so it always speaks). */
  engine?: Partial<EngineOptions>;
  /** A model already loaded (benches); loaded from config.model.package otherwise, and then closed by close(). */
  model?: Model;
  hooks?: WorkerHooks;
  /** Aborting it closes the worker (as close() does). */
  signal?: AbortSignal;
}

export interface RunningWorker {
  readonly id: string;
  readonly node: WorkerNode;
  readonly engine: ModelEngine;
  /** Gives its streams back (others take them within a poll) and stops. Idempotent. */
  close(): Promise<void>;
}

/**
 * `kibitz worker`: loads the model once and runs the streams the cluster gives this process.
 * Needs `queue: { kind: redis, url }`. Returns once the model is loaded; Redis is connected in
 * the background (an unreachable Redis is logged with its URL and retried).
 */
export async function runWorker(config: Config, opts: RunWorkerOptions = {}): Promise<RunningWorker> {
  const q = redisQueueOptions(config, opts.queue);
  const log = (opts.log ?? createLogger({ level: config.log.level, format: config.log.format })).child({ part: 'worker' });
  const id = q.workerId ?? defaultNodeId('worker');
  let model = opts.model;
  const ownModel = !model;
  model ??= await Model.fromConfig(config.model, log);
  // The engine's own bus: what it says is forwarded to the stream's ingest node, never published here.
  const bus = new EventBus((err) => log.error({ err }, 'event listener failed'));
  const engine = engineFor(model, bus, log, config, opts.engine);
  const node = new WorkerNode(id, q.url, q, engine, bus, log, opts.hooks);
  node.start();
  log.info({ worker: id, capacity: q.capacity, redis: safeUrl(q.url) }, `worker ${id} ready for ${q.capacity} streams`);
  let closing: Promise<void> | null = null;
  const running: RunningWorker = {
    id, node, engine,
    close() {
      closing ??= (async () => {
        await node.close();
        await engine.close();
        if (ownModel) await model.close();
      })();
      return closing;
    },
  };
  opts.signal?.addEventListener('abort', () => void running.close(), { once: true });
  return running;
}
