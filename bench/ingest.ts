/**
 * Ingest benchmark: N concurrent RTMP publishers of 720p30 H.264 (testsrc2, -bf 3, -g 60) into
 * a kibitz process, sampled at the model rate. Prints sampled/decoded fps per stream, drops,
 * CPU % per stream (kibitz + its decoder ffmpegs, from /proc; the publisher ffmpegs stand in
 * for OBS and are excluded), time from publish to the first sampled frame, and RSS over time.
 *
 *   npx tsx bench/ingest.ts                      # N = 1, 4, 8 for 30 s each
 *   npx tsx bench/ingest.ts --publishers 8 --duration 600 --every 60   # 10-minute soak
 *   --live-encode: publishers encode with libx264 live instead of copying a pre-encoded clip
 *                  (costs the machine ~0.3 core per publisher, which then competes with kibitz)
 *   --model: the bundled model on every stream, publishers looping the sample broadcast (content
 *            the model knows and talks about: testsrc2 is outside its world and would cost
 *            almost nothing); adds frames stepped, lines/min and p95 latencies
 *   --model-threads INTRA[,spin]: override model.threads (e.g. 2,spin = onnxruntime's defaults)
 *
 * The app runs in a child process (this file with --child), with one consumer per session that
 * drains frames as a fast model would, so "dropped" counts real queue overflows.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
const CLK_TCK = 100; // getconf CLK_TCK on Linux

interface ChildSpec { dataDir: string; streams: { name: string; key: string }[]; model?: boolean; threads?: { intraOp: number; spinning: boolean } }

/** The kibitz side: a real app on free ports, frames drained as they come. */
async function child(spec: ChildSpec): Promise<void> {
  const { createApp } = await import('../src/app.ts');
  const { loadConfig } = await import('../src/config/load.ts');
  const { createLogger } = await import('../src/log.ts');
  const config = loadConfig({
    noDefault: true, env: {},
    overrides: {
      http: { port: 0 }, rtmp: { host: '127.0.0.1', port: 0 }, dataDir: spec.dataDir, streams: spec.streams, ingest: { graceMs: 2000 },
      ...(spec.model ? { model: { package: 'models/kibitz-demo', ...(spec.threads ? { threads: spec.threads } : {}) } } : {}),
    },
  });
  const host = spec.model ? (await import('../src/model_host/embedded.ts')).embeddedModelHost() : undefined;
  const app = createApp(config, { log: createLogger({ level: 'warn', format: 'pretty', destination: process.stderr }), modelHost: host });
  if (!spec.model) {
    app.onSession((s) => {
      void (async () => {
        for await (const _f of s.frames(s.endSignal)) { /* --model runs the bundled model here */ }
      })();
    });
  }
  await app.start();
  const engine = host?.engine ?? null;
  process.stdout.write(JSON.stringify({ http: app.http.port, rtmp: app.rtmp.port }) + '\n');
  // The parent reads the engine's latency samples after we exit.
  const { writeFileSync } = await import('node:fs');
  const stop = () => {
    if (engine) writeFileSync(path.join(spec.dataDir, 'latencies.json'), JSON.stringify({ decision: engine.latencies, commentary: engine.commentaryLatencies }));
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  // The bench owns us through stdin: if it dies, we go too (and take the decoders with us).
  process.stdin.on('end', stop);
  process.stdin.resume();
}

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      publishers: { type: 'string', default: '1,4,8' }, duration: { type: 'string', default: '30' },
      every: { type: 'string' }, 'live-encode': { type: 'boolean', default: false },
      /** Start publishers this many ms apart (0: all at once, the worst case). */
      stagger: { type: 'string', default: '0' },
      /** Run the bundled model on every stream (full path: RTMP -> decode -> model). */
      model: { type: 'boolean', default: false },
      'model-threads': { type: 'string' },
    },
  });
  const mt = values['model-threads']?.split(',');
  const threads = mt ? { intraOp: Number(mt[0]), spinning: mt[1] === 'spin' } : undefined;
  const counts = values.publishers!.split(',').map(Number);
  const durationS = Number(values.duration);
  const everyS = Number(values.every ?? (durationS >= 120 ? 60 : 10));
  const clip = values['live-encode'] ? null : values.model ? SAMPLE : fixture();
  console.log(`kibitz ingest bench — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, ${durationS} s per run, publishers: ${values['live-encode'] ? 'live libx264' : 'pre-encoded clip, -c copy'}, 720p30 H.264 -bf 3 -g 60 -> model frame size @ 2 fps${values.model ? `, bundled model on every stream (publishers loop ${SAMPLE}; model.threads ${threads ? JSON.stringify(threads) : 'auto'})` : ''}`);
  console.log('(shared machine: other processes may take CPU during the run)\n');
  const rows: string[][] = [];
  for (const n of counts) rows.push(await run(n, durationS, everyS, clip, Number(values.stagger), values.model!, threads));
  const head = ['publishers', 'sampled fps/stream (exp. 2)', 'decoded fps/stream (exp. 30)', 'dropped', 'CPU %/stream (node+ffmpeg)', 'node % total', 'ffmpeg % total', 'first frame ms avg/max', 'RSS node MB', 'PSS ffmpeg MB/stream'];
  if (values.model) head.push('model stepped % (min stream)', 'model skipped (window)', 'lines/min/stream', 'p95 frame->decision ms', 'p95 frame->commentary ms');
  printTable(head, rows);
}

async function run(n: number, durationS: number, everyS: number, clip: string | null, staggerMs: number, model: boolean, threads?: ChildSpec['threads']): Promise<string[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-bench-'));
  const streams = Array.from({ length: n }, (_, i) => ({ name: `s${i}`, key: `bench-${i}-${process.pid}` }));
  const app = spawn(process.execPath, ['--import', 'tsx', HERE, '--child', JSON.stringify({ dataDir, streams, model, threads })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ports = await new Promise<{ http: number; rtmp: number }>((resolve, reject) => {
    let buf = '';
    app.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!));
    });
    app.once('exit', (c) => reject(new Error(`app exited ${c}`)));
  });
  const api = `http://127.0.0.1:${ports.http}`;
  const liveAt = new Map<string, number>();
  const firstAt = new Map<string, number>();
  const sse = streams.map((s) => http.get(`${api}/api/streams/${s.name}/events`, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      if (!liveAt.has(s.name) && d.includes('"status":"live"')) liveAt.set(s.name, performance.now());
    });
  }));
  await new Promise((r) => setTimeout(r, 300));
  type Row = { name: string; framesSampled: number; framesDecoded: number; framesDropped: number; model?: { framesProcessed: number; framesSkipped: number; lines: number } };
  const streamsNow = async () => ((await getJson(`${api}/api/streams`)) as { streams: Row[] }).streams;
  // First frames: poll from before the first publisher starts (measured from each stream's `live` event).
  let polling = true;
  const poller = (async () => {
    while (polling && firstAt.size < n) {
      for (const s of await streamsNow()) if (s.framesSampled > 0 && !firstAt.has(s.name)) firstAt.set(s.name, performance.now());
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const pubs: ChildProcess[] = [];
  const killPubs = () => pubs.forEach((p) => p.kill('SIGKILL'));
  process.once('exit', killPubs);
  for (const [i, s] of streams.entries()) {
    if (i > 0 && staggerMs > 0) await new Promise((r) => setTimeout(r, staggerMs));
    pubs.push(spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      ...(clip ? ['-stream_loop', '-1', '-i', clip, '-c', 'copy'] : ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '3', '-g', '60', '-pix_fmt', 'yuv420p']),
      '-f', 'flv', `rtmp://127.0.0.1:${ports.rtmp}/live/${s.key}`,
    ], { stdio: 'ignore' }));
  }
  const t0 = performance.now();
  await Promise.race([poller, new Promise((r) => setTimeout(r, 15_000))]);
  polling = false;
  // Warm-up done: measure a steady window.
  await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (performance.now() - t0))));
  const c0 = await streamsNow();
  const cpu0 = cpuTicks(app.pid!);
  const w0 = performance.now();
  const rssLog: string[] = [];
  let lastRss = { node: 0, ffmpeg: 0 };
  for (let t = everyS; ; t += everyS) {
    const left = durationS * 1000 - (performance.now() - w0);
    await new Promise((r) => setTimeout(r, Math.min(everyS * 1000, Math.max(0, left))));
    lastRss = rss(app.pid!);
    rssLog.push(`t=${Math.round((performance.now() - w0) / 1000)}s node ${mb(lastRss.node)} MB, decoders ${mb(lastRss.ffmpeg)} MB PSS`);
    if (performance.now() - w0 >= durationS * 1000 - 50) break;
  }
  const c1 = await streamsNow();
  const cpu1 = cpuTicks(app.pid!);
  const wallS = (performance.now() - w0) / 1000;
  killPubs();
  process.off('exit', killPubs);
  for (const r of sse) r.destroy();
  app.kill('SIGTERM');
  await new Promise((r) => app.once('exit', r));
  const latFile = path.join(dataDir, 'latencies.json');
  const lats = existsSync(latFile) ? JSON.parse(readFileSync(latFile, 'utf8')) as { decision: number[]; commentary: number[] } : { decision: [], commentary: [] };
  rmSync(dataDir, { recursive: true, force: true });

  const per = (k: 'framesSampled' | 'framesDecoded' | 'framesDropped') => c1.map((s) => s[k] - (c0.find((x) => x.name === s.name)?.[k] ?? 0));
  const sampledFps = per('framesSampled').map((v) => v / wallS);
  const decodedFps = per('framesDecoded').map((v) => v / wallS);
  const dropped = c1.reduce((a, s) => a + s.framesDropped, 0);
  const nodePct = ((cpu1.node - cpu0.node) / CLK_TCK / wallS) * 100;
  const ffPct = ((cpu1.ffmpeg - cpu0.ffmpeg) / CLK_TCK / wallS) * 100;
  const lat = streams.map((s) => (firstAt.get(s.name) ?? NaN) - (liveAt.get(s.name) ?? NaN)).filter((x) => Number.isFinite(x));
  console.log(`N=${n}: ${rssLog.join('; ')}`);
  const modelCols: string[] = [];
  if (model) {
    const stepped = c1.map((s, i) => ((s.model?.framesProcessed ?? 0) - (c0.find((x) => x.name === s.name)?.model?.framesProcessed ?? 0)) / Math.max(1, per('framesSampled')[i]!));
    const lines = c1.reduce((a, s) => a + (s.model?.lines ?? 0) - (c0.find((x) => x.name === s.name)?.model?.lines ?? 0), 0);
    modelCols.push(fmt(100 * Math.min(...stepped), 0), String(c1.reduce((a, s) => a + (s.model?.framesSkipped ?? 0) - (c0.find((x) => x.name === s.name)?.model?.framesSkipped ?? 0), 0)),
      fmt(lines / n / (wallS / 60), 1), fmt(p95(lats.decision), 0), fmt(p95(lats.commentary), 0));
  }
  return [
    String(n),
    `${fmt(Math.min(...sampledFps))}..${fmt(Math.max(...sampledFps))}`,
    `${fmt(Math.min(...decodedFps), 1)}..${fmt(Math.max(...decodedFps), 1)}`,
    String(dropped),
    fmt((nodePct + ffPct) / n, 1),
    fmt(nodePct, 1),
    fmt(ffPct, 1),
    lat.length ? `${Math.round(lat.reduce((a, b) => a + b, 0) / lat.length)}/${Math.round(Math.max(...lat))}` : 'n/a',
    mb(lastRss.node),
    fmt(lastRss.ffmpeg / 1024 / 1024 / n, 1),
    ...modelCols,
  ];
}

/** utime+stime of the app process and, separately, of its ffmpeg children (live ones). */
function cpuTicks(pid: number): { node: number; ffmpeg: number } {
  const ticks = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      return 0;
    }
  };
  return { node: ticks(pid), ffmpeg: childrenOf(pid).reduce((a, p) => a + ticks(p), 0) };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(st.split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** RSS of the app; PSS of its decoders (their RSS counts the shared ffmpeg libraries once per process). */
function rss(pid: number): { node: number; ffmpeg: number } {
  const read = (p: number, file: string, field: string) => {
    try {
      return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${p}/${file}`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      return 0;
    }
  };
  return { node: read(pid, 'status', 'VmRSS'), ffmpeg: childrenOf(pid).reduce((a, p) => a + read(p, 'smaps_rollup', 'Pss'), 0) };
}

function fixture(): string {
  const dir = path.join(os.tmpdir(), 'kibitz-test-fixtures');
  const file = path.join(dir, 'testsrc2-720p30-bf3-g60-10s.mp4');
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30:duration=10',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=10',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'high', '-bf', '3', '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', tmp], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('fixture encode failed');
  renameSync(tmp, file);
  return file;
}

function getJson(url: string): Promise<unknown> {
  return fetch(url).then((r) => r.json());
}

const SAMPLE = 'models/samples/broadcast1.mp4';
const p95 = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1]! : NaN);
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mb = (b: number) => (b / 1024 / 1024).toFixed(0);

function printTable(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  console.log('\n' + line(head));
  console.log(`|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

if (process.argv.includes('--child')) {
  await child(JSON.parse(process.argv[process.argv.indexOf('--child') + 1]!) as ChildSpec);
} else {
  await parent();
}
