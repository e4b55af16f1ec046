/**
 * A worker in its own process (kill -9 / SIGSTOP tests, benches). Env: KQ_CONFIG (JSON of the
 * config overrides), KQ_WORKER_ID, KQ_CAPACITY, KQ_SLOW_MS (hold answers to questions that
 * contain "slow" this long before publishing them). Prints one JSON line per notable thing.
 */
import { loadConfig } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log.ts';
import { runWorker } from '../../../src/model_host/worker.ts';

const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
const config = loadConfig({ noDefault: true, env: {}, overrides: JSON.parse(process.env.KQ_CONFIG!) });
const slowMs = Number(process.env.KQ_SLOW_MS ?? 0);
/** Frame hop latencies (decoded on the ingest node -> out of Redis here), ms; benches read them. */
const hops: number[] = [];
const w = await runWorker(config, {
  log: createLogger({ level: process.env.KIBITZ_TEST_LOG ?? 'warn', format: 'json', destination: process.stderr }),
  queue: { workerId: process.env.KQ_WORKER_ID, capacity: Number(process.env.KQ_CAPACITY ?? 4) },
  engine: JSON.parse(process.env.KQ_ENGINE ?? '{}'),
  hooks: {
    onFrame(_s, f, replay, receivedAt) {
      if (replay) return;
      hops.push(receivedAt - f.decodedAt);
      if (hops.length > 5000) hops.shift();
    },
    async beforeAnswer(job) {
      say({ answering: job.id });
      if (slowMs > 0 && job.question?.includes('slow')) await new Promise((r) => setTimeout(r, slowMs));
    },
  },
});
say({ ready: w.id, pid: process.pid });
const reportMs = Number(process.env.KQ_REPORT_MS ?? 0);
if (reportMs > 0) {
  setInterval(() => {
    say({ report: { id: w.id, at: Date.now(), cpu: process.cpuUsage(), lat: w.engine.latencies.slice(-2000), hops: hops.slice(-2000), node: w.node.toJSON() } });
  }, reportMs).unref();
}
const stop = async () => {
  await w.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
