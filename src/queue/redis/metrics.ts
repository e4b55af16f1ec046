import { Gauge, type Registry } from 'prom-client';
import type { QueueStatus } from './status.ts';

/** Gauges that read the ingest node's cached cluster view at scrape time. */
export function registerQueueMetrics(registry: Registry, status: () => QueueStatus): void {
  const registers = [registry];
  const g = (name: string, help: string, labelNames: string[], fill: (gauge: Gauge<string>, s: QueueStatus) => void) => {
    if (registry.getSingleMetric(name)) return;
    new Gauge({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        fill(this, status());
      },
    });
  };
  g('kibitz_queue_redis_up', 'Whether this node reaches Redis (1) or not (0)', [], (m, s) => m.set(s.redis === 'ready' ? 1 : 0));
  g('kibitz_queue_redis_used_memory_bytes', 'Redis used_memory', [], (m, s) => {
    if (s.usedMemoryBytes !== null) m.set(s.usedMemoryBytes);
  });
  g('kibitz_queue_stream_owner', 'The worker that owns each stream (1 per stream/worker pair)', ['stream', 'worker'], (m, s) => {
    for (const st of s.streams) if (st.owner) m.set({ stream: st.name, worker: st.owner }, 1);
  });
  g('kibitz_queue_stream_lag_frames', 'Frames sent to Redis that the owner has not processed', ['stream'], (m, s) => {
    for (const st of s.streams) if (st.lagFrames !== null) m.set({ stream: st.name }, st.lagFrames);
  });
  g('kibitz_queue_stream_lag_ms', 'Stream time between the newest frame sent and the newest processed', ['stream'], (m, s) => {
    for (const st of s.streams) if (st.lagMs !== null) m.set({ stream: st.name }, st.lagMs);
  });
  g('kibitz_queue_worker_capacity', 'Streams each live worker can run in real time', ['worker'], (m, s) => {
    for (const w of s.workers) m.set({ worker: w.id }, w.capacity);
  });
  g('kibitz_queue_worker_load', 'Streams each live worker runs', ['worker'], (m, s) => {
    for (const w of s.workers) m.set({ worker: w.id }, w.load);
  });
}
