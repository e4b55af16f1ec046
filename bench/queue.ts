/**
 * Redis queue benchmarks (issue 7). Prints tables; `npx tsx bench/queue.ts --help`.
 *
 *   latency  the Redis path vs embedded on this machine: per-frame latency (decoded -> handed to
 *            the model, and decoded -> decision), per-ask round trip, CPU per stream, Redis memory
 *   scale    streams (2 fps) served by 1, 2, 3 worker processes, ramping the stream count
 *
 * The worker runs in a child process (as `kibitz worker` would); the ingest side runs here with
 * sessions fed synthetic frames of the model's size (no ffmpeg: decode cost is the same on both
 * paths). The model is told never to speak (threshold 0) so a frame costs one vision + decoder
 * step; speaking adds the text decode (~20 ms/token here) on either path alike.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pino from 'pino';
import { EventBus } from '../src/bus.ts';
import { ModelEngine } from '../src/model/engine.ts';
import { Model } from '../src/model/model.ts';
import type { IngestNode } from '../src/queue/redis/ingest_node.ts';
import { ChildWorker } from '../test/queue/helpers/child.ts';
import { FakeHost, PKG, redisConfig, redisOverrides, startIngestNode } from '../test/queue/helpers/host.ts';
import { RedisServer } from '../test/queue/helpers/redis.ts';
import { fmt, pct, table as printTable } from './table.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'latency,scale' },
    seconds: { type: 'string', default: '20' },
    streams: { type: 'string', default: '2' },
    asks: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1,2,3' },
    ramp: { type: 'string', default: '2,4,6,8,10,12' },
    fps: { type: 'string', default: '2' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npx tsx bench/queue.ts [--mode latency,scale] [--seconds 20] [--streams 2] [--asks 10] [--rounds 2] [--workers 1,2,3] [--ramp 2,4,6,8] [--fps 2]');
  process.exit(0);
}

const FPS = Number(values.fps);
const ENGINE = { threshold: 0, maxResponseTokens: 8 };
const f1 = (x: number) => fmt(x, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'warn' });

function table(head: string[], rows: (string | number)[][]): void {
  printTable(head, rows);
  console.log();
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
/** CPU ms a process has used (Linux /proc, 100 ticks/s). */
const procCpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const names = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `b${from + i}`);

interface Report { at: number; cpu: NodeJS.CpuUsage; lat: number[]; hops: number[]; node: { streams: { name: string; framesProcessed: number }[] } }
const lastReport = (c: ChildWorker) => [...c.lines].reverse().find((l) => l.report)?.report as Report | undefined;
async function freshReport(c: ChildWorker): Promise<Report> {
  const n = c.lines.length;
  await c.waitLine((l) => !!l.report && c.lines.indexOf(l) >= n, 5000);
  return lastReport(c)!;
}

async function asks(ask: (q: string, id: string) => Promise<unknown>, n: number, stream: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await ask(`what is on screen, ${i}?`, `${stream}-bench-${Date.now()}-${i}`);
    out.push(performance.now() - t0);
  }
  return out;
}

async function latencyBench(): Promise<void> {
  const seconds = Number(values.seconds);
  const n = Number(values.streams);
  const nAsks = Number(values.asks);
  const rounds = Number(values.rounds);
  const per = seconds / rounds;

  // Both set up at once; rounds alternate embedded / Redis so load from elsewhere hits both alike.
  const model = await Model.load({ packageDir: PKG });
  const all = names(2 * n * rounds);
  const embHost = new FakeHost(redisConfig('redis://unused:1', all));
  const engine = new ModelEngine(model, new EventBus(), log, ENGINE);
  embHost.onSession((s) => void engine.consume(s.name, s.frames(s.endSignal), s.endSignal));
  const redis = await RedisServer.start();
  const worker = await ChildWorker.start('bench-w1', redisOverrides(redis.url, all), { KQ_ENGINE: JSON.stringify(ENGINE), KQ_REPORT_MS: '1000', KQ_CAPACITY: '64' });
  const host = new FakeHost(redisConfig(redis.url, all));
  const ingest = startIngestNode(host);
  while ((await ingest.refresh()).workers.length < 1) await sleep(200);

  const emb = { lat: [] as number[], ask: [] as number[], cpu: 0 };
  const red = { hops: [] as number[], lat: [] as number[], ask: [] as number[], ingestCpu: 0, workerCpu: 0, xadd: [] as number[], redisCpu: 0, mem: 0, keyBytes: [] as number[], xlen: [] as number[] };
  let next = 0;
  for (let r = 0; r < rounds; r++) {
    const e = all.slice(next, (next += n));
    e.forEach((s, i) => embHost.startStream(s, i, FPS));
    await sleep(2000);
    const l0 = engine.latencies.length;
    const c0 = process.cpuUsage();
    await sleep(per * 1000);
    emb.cpu += cpuMs(process.cpuUsage(c0)) / per / n / rounds;
    emb.lat.push(...engine.latencies.slice(l0 >= 1000 ? -Math.round(per * FPS * n) : l0));
    emb.ask.push(...(await asks((q, id) => engine.ask({ stream: e[0]!, question: q, id }), Math.ceil(nAsks / rounds), e[0]!)));
    for (const s of e) embHost.endStream(s);

    const rs = all.slice(next, (next += n));
    rs.forEach((s, i) => host.startStream(s, i, FPS));
    while ((await ingest.refresh()).streams.some((s) => !s.owner)) await sleep(200);
    await sleep(2000);
    const r0 = await freshReport(worker);
    const c1 = process.cpuUsage();
    const rc0 = procCpuMs(redis.pid!);
    await sleep(per * 1000);
    red.ingestCpu += cpuMs(process.cpuUsage(c1)) / per / n / rounds;
    red.redisCpu += (procCpuMs(redis.pid!) - rc0) / per / n / rounds;
    const r1 = await freshReport(worker);
    red.workerCpu += (cpuMs(r1.cpu) - cpuMs(r0.cpu)) / ((r1.at - r0.at) / 1000) / n / rounds;
    const k = Math.round(per * FPS * n);
    red.hops.push(...r1.hops.slice(-k));
    red.lat.push(...r1.lat.slice(-k));
    red.xadd.push(...rs.flatMap((s) => ingest.xaddTimes(s)));
    red.mem = Math.max(red.mem, (await ingest.refresh()).usedMemoryBytes ?? 0);
    const probe = new Redis(redis.url);
    for (const s of rs) red.keyBytes.push(Number(await probe.call('MEMORY', 'USAGE', ingest.keys.frames(s), 'SAMPLES', '0')));
    red.xlen.push(...(await Promise.all(rs.map((s) => probe.xlen(ingest.keys.frames(s))))));
    probe.disconnect();
    red.ask.push(...(await asks((q, id) => host.brain!.ask({ stream: rs[0]!, question: q, id }), Math.ceil(nAsks / rounds), rs[0]!)));
    for (const s of rs) host.endStream(s);
  }
  await host.close();
  await worker.stop();
  await redis.stop();
  await embHost.close();
  await engine.close();
  await model.close();

  console.log(`\n## Redis path vs embedded: ${n} streams at ${FPS} fps, ${seconds} s each in ${rounds} alternating rounds, ${model.manifest.frame.width}x${model.manifest.frame.height} RGB frames (${(model.frameBytes / 1024).toFixed(0)} KiB)\n`);
  table(['path', 'decoded->out of Redis p50 ms', 'p95 ms', 'decoded->decision p50 ms', 'p95 ms', 'ask p50 ms', 'ask p95 ms', 'CPU ms/s per stream'], [
    ['embedded', '-', '-', f1(pct(emb.lat, 50)), f1(pct(emb.lat, 95)), f1(pct(emb.ask, 50)), f1(pct(emb.ask, 95)), f1(emb.cpu)],
    ['redis (1 worker process)', f1(pct(red.hops, 50)), f1(pct(red.hops, 95)), f1(pct(red.lat, 50)), f1(pct(red.lat, 95)), f1(pct(red.ask, 50)), f1(pct(red.ask, 95)), `${f1(red.ingestCpu)} ingest + ${f1(red.workerCpu)} worker + ${f1(red.redisCpu)} redis-server`],
    ['added by Redis', f1(pct(red.hops, 50)), f1(pct(red.hops, 95)), f1(pct(red.lat, 50) - pct(emb.lat, 50)), f1(pct(red.lat, 95) - pct(emb.lat, 95)), f1(pct(red.ask, 50) - pct(emb.ask, 50)), f1(pct(red.ask, 95) - pct(emb.ask, 95)), f1(red.ingestCpu + red.workerCpu + red.redisCpu - emb.cpu)],
  ]);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  table(['frames', 'XADD p50 ms', 'XADD p95 ms', 'frames key per live stream (MEMORY USAGE)', 'XLEN', 'Redis used_memory (peak, incl. ended streams kept 60 s)'], [
    [red.hops.length, f1(pct(red.xadd, 50)), f1(pct(red.xadd, 95)), `${(avg(red.keyBytes) / 1048576).toFixed(2)} MiB`, Math.max(...red.xlen), `${(red.mem / 1048576).toFixed(1)} MiB`],
  ]);
}

async function scaleBench(): Promise<void> {
  const ramp = values.ramp!.split(',').map(Number);
  const rows: (string | number)[][] = [];
  for (const k of values.workers!.split(',').map(Number)) {
    const all = names(Math.max(...ramp));
    const redis = await RedisServer.start();
    const env = { KQ_ENGINE: JSON.stringify(ENGINE), KQ_REPORT_MS: '1000', KQ_CAPACITY: '64' };
    const workers = await Promise.all(Array.from({ length: k }, (_, i) => ChildWorker.start(`scale-w${i + 1}`, redisOverrides(redis.url, all), env)));
    const host = new FakeHost(redisConfig(redis.url, all));
    const ingest: IngestNode = startIngestNode(host);
    while ((await ingest.refresh()).workers.length < k) await sleep(200);
    let started = 0;
    let best = 0;
    for (const n of ramp) {
      while (started < n) host.startStream(all[started]!, started++, FPS);
      while ((await ingest.refresh()).streams.some((s) => !s.owner)) await sleep(200);
      await sleep(3000);
      const sent0 = new Map(all.slice(0, n).map((s) => [s, host.sessions.get(s)!.counters.framesSampled]));
      const r0 = await Promise.all(workers.map(freshReport));
      const t0 = Date.now();
      await sleep(8000);
      const r1 = await Promise.all(workers.map(freshReport));
      const secs = (Date.now() - t0) / 1000;
      // Frames per second the model stepped for each stream, between its worker's two reports.
      const rate = new Map<string, number>();
      r1.forEach((r, i) => {
        const dt = (r.at - r0[i]!.at) / 1000;
        for (const s of r.node.streams) rate.set(s.name, (s.framesProcessed - (r0[i]!.node.streams.find((x) => x.name === s.name)?.framesProcessed ?? 0)) / dt);
      });
      let stepped = 0;
      for (const v of rate.values()) stepped += v;
      let served = 0;
      for (const s of all.slice(0, n)) {
        const sentRate = (host.sessions.get(s)!.counters.framesSampled - sent0.get(s)!) / secs;
        if ((rate.get(s) ?? 0) >= 0.9 * Math.min(FPS, sentRate)) served++;
        if (process.env.KQ_DEBUG) console.error(s, sentRate, rate.get(s));
      }
      const cpu = r1.reduce((a, r, i) => a + cpuMs(r.cpu) - cpuMs(r0[i]!.cpu), 0) / secs;
      const lat = r1.flatMap((r) => r.lat.slice(-Math.round(secs * FPS * n / k)));
      const st = await ingest.refresh();
      rows.push([k, n, served, f1(stepped), f1(cpu / stepped), f1(cpu / 10) + ' %', f1(pct(lat, 50)), f1(pct(lat, 95)), st.workers.map((w) => w.load).join('/'), `${((st.usedMemoryBytes ?? 0) / 1048576).toFixed(1)} MiB`]);
      console.error(`workers ${k}, streams ${n}: served ${served}`);
      if (served === n) best = n;
      if (served < n) break;
    }
    rows.push([k, 'max', best, '', '', '', '', '', '', '']);
    await host.close();
    await Promise.all(workers.map((w) => w.stop()));
    await redis.stop();
  }
  console.log(`\n## Streams (${FPS} fps) served by worker processes on this machine (served: the model steps >= 90% of its frames)\n`);
  table(['workers', 'streams', 'served', 'frames stepped/s', 'CPU ms/frame', 'worker CPU (% of 1 core)', 'decision p50 ms', 'p95 ms', 'load per worker', 'Redis memory'], rows);
}

const modes = values.mode!.split(',');
if (modes.includes('latency')) await latencyBench();
if (modes.includes('scale')) await scaleBench();
process.exit(0);
