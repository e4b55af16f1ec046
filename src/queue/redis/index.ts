/**
 * The Redis path's public surface. An ingest node (`kibitz serve` with `queue.kind: redis`) gets
 * it through its model host (src/model_host/remote.ts):
 *
 *   createApp(config, { modelHost: remoteModelHost() })   // frames out, RedisBrain as the brain
 *   ingest.streamInfo(name)                        // { owner, lagFrames, lagMs, decisionLatencyMs } for /api/streams
 *   ingest.status()                                // { redis, workers: [{ id, capacity, load, streams }], streams, usedMemoryBytes }
 *
 * /metrics gets kibitz_queue_* gauges by itself (app.metrics.registry). A worker: runWorker() in
 * src/model_host/worker.ts.
 */
export { IngestNode, type IngestNodeParts } from './ingest_node.ts';
export { redisQueueOptions, redisQueueSchema, type RedisQueueOptions } from './options.ts';
export type { QueueStatus, StreamQueueInfo } from './status.ts';
export type { WorkerInfo } from './workers.ts';
