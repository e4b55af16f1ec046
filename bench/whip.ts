/**
 * WHIP ingest benchmark (issue 6). Prints two tables.
 *
 *   npx tsx bench/whip.ts                         # latency (WHIP vs RTMP) + concurrency 1,2,4,6,8,10
 *   npx tsx bench/whip.ts --mode latency --seconds 20
 *   npx tsx bench/whip.ts --mode concurrency --publishers 1,6 --seconds 20
 *
 * Latency: from a frame leaving the publisher to the sampled frame in the session. A generator
 * writes 1280x720 gray frames carrying their index as a bit pattern into one libx264 encoder
 * (ultrafast, zerolatency, no B-frames) per path; the time a frame is written is its send
 * time, so both paths include the same encoder. WHIP: ffmpeg's RTP output -> a werift WHIP
 * publisher (real ICE/DTLS/SRTP over UDP) -> kibitz. RTMP: ffmpeg -f flv -> kibitz's RTMP
 * ingest. kibitz reads the index back from each sampled 192x108 RGB frame.
 *
 * Concurrency: N werift WHIP publishers replay a pre-encoded 720p30 H.264 clip (testsrc2,
 * x264 veryfast High like OBS, no B-frames, 4 Mb/s, GOP 2 s) in real time. A stream has
 * sampled-frame loss when it gets fewer samples than 1/fps per media second that reached its
 * decoder, or units are dropped for backpressure or broken. Expected samples come from the media time that reached each decoder, so a
 * publisher that cannot keep real time on a loaded machine shows as a lower ingest fps, not as
 * kibitz loss. CPU: the kibitz process + its decoder ffmpegs (from /proc), per publisher; the
 * publishers run in their own processes (two each) and are reported separately.
 *
 * kibitz runs in a child process (this file with --child) so its CPU can be measured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RtpPacket } from 'werift/nonstandard';
import { WeriftWhipPublisher } from '../test/whip/helpers/client.ts';
import { pct } from './table.ts';

const HERE = fileURLToPath(import.meta.url);
const CLK_TCK = 100;
const W = 1280;
const H = 720;
const FPS = 30;
const BITS = 16;
const now = () => performance.timeOrigin + performance.now(); // wall ms, comparable across processes


// ---------------------------------------------------------------- kibitz side

interface ChildSpec { dataDir: string; streams: { name: string; key: string }[]; fps: number; decodeIndex: boolean }

async function child(spec: ChildSpec): Promise<void> {
  const { createApp } = await import('../src/app.ts');
  const { loadConfig } = await import('../src/config/load.ts');
  const { createLogger } = await import('../src/log.ts');
  const config = loadConfig({
    noDefault: true, env: {},
    overrides: {
      http: { host: '127.0.0.1', port: 0 }, rtmp: { host: '127.0.0.1', port: 0 }, dataDir: spec.dataDir, streams: spec.streams,
      model: { fps: spec.fps }, ingest: { graceMs: 0, frameQueueCapacity: 64 }, whip: { maxPublishers: 64 },
    },
  });
  const log = createLogger({ level: process.env.WHIP_BENCH_LOG ?? 'warn', format: 'pretty', destination: process.stderr });
  const app = createApp(config, { log });
  const whip = app.whip;
  app.onSession((s) => {
    void (async () => {
      for await (const f of s.frames(s.endSignal)) {
        if (!spec.decodeIndex) continue;
        const idx = readIndex(f.data, f.width, f.height);
        if (idx !== null) process.stdout.write(JSON.stringify({ frame: { stream: s.name, idx, at: now() } }) + '\n');
      }
    })();
  });
  await app.start();
  process.stdout.write(JSON.stringify({ ready: { http: app.http.port, rtmp: app.rtmp.port } }) + '\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stats') {
      const sessions = app.sessions.list().map((s) => ({ name: s.name, state: s.state, ...s.counters, streamTimeMs: s.streamTimeMs }));
      process.stdout.write(JSON.stringify({ stats: { sessions, whip: whip.list() } }) + '\n');
    }
  }
  await app.close();
  process.exit(0);
}

/** The frame index from the bit pattern: row A holds the bits, row B their inverse (a checksum). */
function readIndex(rgb: Uint8Array, w: number, h: number): number | null {
  let v = 0;
  for (let b = 0; b < BITS; b++) {
    const x = Math.floor(((b + 0.5) * w) / BITS);
    const a = rgb[(Math.floor(h * 0.2) * w + x) * 3 + 1]!;
    const c = rgb[(Math.floor(h * 0.6) * w + x) * 3 + 1]!;
    if (a > 150 && c < 100) v |= 1 << b;
    else if (!(a < 100 && c > 150)) return null;
  }
  return v;
}

// ---------------------------------------------------------------- publisher side

function patternFrame(idx: number): Buffer {
  const f = Buffer.alloc(W * H, 40);
  const bw = W / BITS;
  for (let b = 0; b < BITS; b++) {
    const on = (idx >> b) & 1;
    for (let y = 0; y < H; y++) {
      const row = y < H * 0.4 ? on : y >= H * 0.45 && y < H * 0.85 ? 1 - on : -1;
      if (row < 0) continue;
      f.fill(row ? 235 : 16, y * W + b * bw + 4, y * W + (b + 1) * bw - 4);
    }
  }
  return f;
}

const ENCODER = ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-r', String(FPS), '-i', 'pipe:0',
  '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', '-g', String(FPS * 2), '-pix_fmt', 'yuv420p', '-b:v', '2500k'];

/** Writes pattern frames in real time into `enc`, recording when each left. */
async function generate(enc: ChildProcess, seconds: number, sentAt: Map<number, number>): Promise<void> {
  const t0 = performance.now();
  const total = seconds * FPS;
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / FPS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sentAt.set(i % (1 << BITS), now());
    if (!enc.stdin!.write(patternFrame(i))) await new Promise((r) => enc.stdin!.once('drain', r));
  }
  enc.stdin!.end();
}

interface Kibitz { proc: ChildProcess; http: number; rtmp: number; lines: AsyncIterator<string>; onFrame: (cb: (f: { stream: string; idx: number; at: number }) => void) => void; stats: () => Promise<ChildStats>; close: () => Promise<void>; dataDir: string }
interface ChildStats { sessions: { name: string; framesSampled: number; framesDropped: number; decodeErrors: number; streamTimeMs: number }[]; whip: { stream: string; droppedForBackpressure: number; video: { emitted: number; broken: number; lostPackets: number } }[] }

async function startKibitz(streams: { name: string; key: string }[], fps: number, decodeIndex: boolean): Promise<Kibitz> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-bench-whip-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', HERE, '--child', JSON.stringify({ dataDir, streams, fps, decodeIndex })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  let frameCb: (f: { stream: string; idx: number; at: number }) => void = () => {};
  const statWaiters: ((s: ChildStats) => void)[] = [];
  let ready: (v: { http: number; rtmp: number }) => void;
  const readyP = new Promise<{ http: number; rtmp: number }>((r) => (ready = r));
  rl.on('line', (line) => {
    let j: { ready?: { http: number; rtmp: number }; frame?: { stream: string; idx: number; at: number }; stats?: ChildStats };
    try {
      j = JSON.parse(line);
    } catch {
      return;
    }
    if (j.ready) ready(j.ready);
    if (j.frame) frameCb(j.frame);
    if (j.stats) statWaiters.shift()?.(j.stats);
  });
  const { http, rtmp } = await readyP;
  return {
    proc, http, rtmp, dataDir, lines: rl[Symbol.asyncIterator](),
    onFrame: (cb) => (frameCb = cb),
    stats: () => new Promise((r) => {
      statWaiters.push(r);
      proc.stdin!.write('stats\n');
    }),
    close: async () => {
      proc.stdin!.end();
      await new Promise((r) => proc.once('close', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}


async function latencyRun(kind: 'whip' | 'rtmp', seconds: number, fps: number): Promise<number[]> {
  const key = `lat-${kind}-${process.pid}`;
  const k = await startKibitz([{ name: 'lat', key }], fps, true);
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  const warmupUntil = now() + 3000;
  k.onFrame((f) => {
    const s = sentAt.get(f.idx);
    if (s !== undefined && f.at > warmupUntil) lat.push(f.at - s);
  });
  let enc: ChildProcess;
  let pub: WeriftWhipPublisher | undefined;
  let sock: ReturnType<typeof createSocket> | undefined;
  if (kind === 'whip') {
    pub = await WeriftWhipPublisher.start(`http://127.0.0.1:${k.http}/whip/lat`, key);
    sock = createSocket('udp4');
    await new Promise<void>((r) => sock!.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    const p = pub;
    sock.on('message', (buf) => {
      try {
        p.sendRtp(RtpPacket.deSerialize(buf));
      } catch {
        /* RTCP or junk */
      }
    });
    enc = spawn('ffmpeg', [...ENCODER, '-f', 'rtp', '-payload_type', '102', `rtp://127.0.0.1:${port}?pkt_size=1200`], { stdio: ['pipe', 'ignore', 'inherit'] });
  } else {
    enc = spawn('ffmpeg', [...ENCODER, '-f', 'flv', '-flvflags', 'no_duration_filesize', `rtmp://127.0.0.1:${k.rtmp}/live/${key}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  }
  enc.stdin!.on('error', () => {});
  await generate(enc, seconds, sentAt);
  await new Promise((r) => setTimeout(r, 1000));
  enc.kill('SIGKILL');
  await pub?.stop();
  sock?.close();
  await k.close();
  return lat;
}

// ---------------------------------------------------------------- concurrency

const CLIP_DIR = path.join(os.tmpdir(), 'kibitz-test-fixtures');

/** 720p30 H.264 as OBS sends it over WHIP (x264 veryfast, High, no B-frames, 4 Mb/s CBR-ish), as access units; encoded once and cached. */
function clipAccessUnits(seconds = 10): Buffer[] {
  const file = path.join(CLIP_DIR, `testsrc2-720p30-veryfast-high-bf0-g60-4M-aud-${seconds}s.h264`);
  if (!existsSync(file)) {
    mkdirSync(CLIP_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${W}x${H}:rate=${FPS}:duration=${seconds}`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '0', '-g', String(FPS * 2), '-b:v', '4000k', '-maxrate', '4000k', '-bufsize', '4000k',
      '-x264-params', 'aud=1', '-pix_fmt', 'yuv420p', '-f', 'h264', tmp]);
    if (r.status !== 0) throw new Error(`clip encode failed: ${r.stderr}`);
    renameSync(tmp, file);
  }
  const buf = readFileSync(file);
  const starts: number[] = [];
  for (let i = 0; i + 4 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1 && (buf[i + 3]! & 0x1f) === 9) starts.push(i > 0 && buf[i - 1] === 0 ? i - 1 : i);
  }
  return starts.map((s, i) => buf.subarray(s, starts[i + 1] ?? buf.length));
}

function ticks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
/** CPU ticks of the kibitz process and its ffmpegs; children that exited are missed (none should). */
const kibitzTicks = (pid: number) => ticks(pid) + childrenOf(pid).reduce((a, p) => a + ticks(p), 0);

/** Publisher side in its own processes (this file with --publishers): one node event loop per PUBS_PER_PROC publishers. */
const PUBS_PER_PROC = 2;

interface PubSpec { base: string; streams: { name: string; key: string }[] }

async function publisherProcess(spec: PubSpec): Promise<void> {
  const aus = clipAccessUnits();
  const startPub = (s: { name: string; key: string }) => WeriftWhipPublisher.start(`${spec.base}/whip/${s.name}`, s.key, 20_000);
  // A loaded machine can stall a handshake: one retry (the failed attempt is DELETEd first).
  const pubs = await Promise.all(spec.streams.map((s) => startPub(s).catch(async (err: Error) => {
    process.stderr.write(`(${s.name}: ${err.message}; retrying)\n`);
    await new Promise((r) => setTimeout(r, 1000));
    return startPub(s);
  })));
  process.stdout.write('ready\n');
  let running = true;
  process.stdin.on('end', () => (running = false)).resume();
  const t0 = performance.now();
  let errors = 0;
  for (let i = 0; running; i++) {
    const wait = t0 + (i * 1000) / FPS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const p of pubs) {
      try {
        p.send(aus[i % aus.length]!, i * (90_000 / FPS));
      } catch (err) {
        if (errors++ === 0) process.stderr.write(`(send failed: ${(err as Error).message})\n`);
      }
    }
  }
  await Promise.all(pubs.map((p) => p.stop()));
  process.exit(0);
}

interface ConcRow { n: number; ingestFps: number; sampledFps: number; minRatio: number; lossy: number; kibitzCpu: number; perPub: number; pubCpu: number; dropDetail: string }

let lastStats: unknown;

function procTicks(pid: number | undefined): number {
  return pid ? ticks(pid) : 0;
}

async function concurrencyRun(n: number, seconds: number, fps: number): Promise<ConcRow> {
  const streams = Array.from({ length: n }, (_, i) => ({ name: `w${i}`, key: `conc-${i}-${process.pid}-${n}` }));
  const k = await startKibitz(streams, fps, false);
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i += PUBS_PER_PROC) {
    const spec: PubSpec = { base: `http://127.0.0.1:${k.http}`, streams: streams.slice(i, i + PUBS_PER_PROC) };
    procs.push(spawn(process.execPath, ['--import', 'tsx', HERE, '--publishers', JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }
  await Promise.all(procs.map((p) => new Promise<void>((resolve, reject) => {
    createInterface({ input: p.stdout! }).on('line', (l) => l === 'ready' && resolve());
    p.once('close', (c) => reject(new Error(`publisher process exited with ${c}`)));
  })));
  await new Promise((r) => setTimeout(r, 4000)); // warm-up: first keyframe, decoders up
  const s0 = await k.stats();
  const c0 = kibitzTicks(k.proc.pid!);
  const p0 = procs.reduce((a, p) => a + procTicks(p.pid), 0);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const s1 = await k.stats();
  lastStats = s1.whip;
  const c1 = kibitzTicks(k.proc.pid!);
  const p1 = procs.reduce((a, p) => a + procTicks(p.pid), 0);
  const wallS = (performance.now() - w0) / 1000;
  for (const p of procs) p.stdin!.end();
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('close', r)))));
  await k.close();
  const perStream = streams.map((s) => {
    const sampled = (s1.sessions.find((x) => x.name === s.name)?.framesSampled ?? 0) - (s0.sessions.find((x) => x.name === s.name)?.framesSampled ?? 0);
    const au = (s1.whip.find((x) => x.stream === s.name)?.video.emitted ?? 0) - (s0.whip.find((x) => x.stream === s.name)?.video.emitted ?? 0);
    // Lossless: one sample per 1/fps of media time that reached the decoder (±1 at the window edges).
    const expected = (au / FPS) * fps;
    return { sampled, au, expected, ok: sampled >= expected - 1.5 };
  });
  const sum = (f: (w: ChildStats['whip'][number]) => number) => s1.whip.reduce((a, w) => a + f(w), 0) - s0.whip.reduce((a, w) => a + f(w), 0);
  const detail = { backpressure: sum((w) => w.droppedForBackpressure), broken: sum((w) => w.video.broken), lostPackets: sum((w) => w.video.lostPackets) };
  const decodeErrors = s1.sessions.reduce((a, s) => a + s.decodeErrors, 0);
  const kibitzCpu = ((c1 - c0) / CLK_TCK / wallS) * 100;
  const lossy = perStream.filter((x) => !x.ok).length;
  return {
    n,
    ingestFps: perStream.reduce((a, x) => a + x.au, 0) / n / wallS,
    sampledFps: perStream.reduce((a, x) => a + x.sampled, 0) / n / wallS,
    minRatio: Math.min(...perStream.map((x) => (x.expected > 0 ? x.sampled / x.expected : 0))),
    lossy: detail.backpressure + detail.broken + decodeErrors > 0 ? Math.max(lossy, 1) : lossy,
    kibitzCpu, perPub: kibitzCpu / n, pubCpu: ((p1 - p0) / CLK_TCK / wallS) * 100,
    dropDetail: `${detail.backpressure}/${detail.broken}/${detail.lostPackets}`,
  };
}

// ---------------------------------------------------------------- main

async function parent(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'all' },
      seconds: { type: 'string', default: '20' },
      publishers: { type: 'string', default: '1,2,4,6,8,10' },
      fps: { type: 'string', default: '' },
    },
  });
  const seconds = Number(values.seconds);
  console.log(`kibitz WHIP bench — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('(shared machine: other processes may take CPU during the runs)\n');
  if (values.mode === 'all' || values.mode === 'latency') {
    const fps = Number(values.fps || 5);
    console.log(`Latency: frame written to the encoder -> sampled frame in the session (720p30 libx264 zerolatency -> 192x108 @ ${fps} fps), ${seconds} s per path`);
    console.log('| path | samples | p50 ms | p95 ms | max ms |');
    console.log('|------|--------:|-------:|-------:|-------:|');
    for (const kind of ['whip', 'rtmp'] as const) {
      const lat = await latencyRun(kind, seconds, fps);
      console.log(`| ${kind.toUpperCase()} | ${lat.length} | ${pct(lat, 50).toFixed(0)} | ${pct(lat, 95).toFixed(0)} | ${Math.max(...lat).toFixed(0)} |`);
    }
    console.log('');
  }
  if (values.mode === 'all' || values.mode === 'concurrency') {
    const fps = Number(values.fps || 2);
    clipAccessUnits(); // encode once before the runs
    console.log(`Concurrency: N WHIP publishers, 720p30 H.264 (testsrc2, x264 veryfast High, bf 0, 4 Mb/s) -> 192x108 @ ${fps} fps, ${seconds} s measured after 4 s warm-up`);
    console.log('A stream has sampled-frame loss when it got fewer samples than 1/fps per media second that reached its decoder, or any unit was dropped.');
    console.log('| publishers | ingest fps per stream (30 = real time) | sampled fps per stream | worst sampled/expected | streams with loss | dropped: backpressure/broken units, lost pkts | kibitz CPU % (node + ffmpeg) | CPU % per publisher | publishers\' CPU % (werift, own processes) |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const n of values.publishers.split(',').map(Number)) {
      const r = await concurrencyRun(n, seconds, fps);
      if (process.env.WHIP_BENCH_DEBUG) console.error(JSON.stringify(lastStats));
      console.log(`| ${r.n} | ${r.ingestFps.toFixed(1)} | ${r.sampledFps.toFixed(2)} | ${r.minRatio.toFixed(2)} | ${r.lossy} | ${r.dropDetail} | ${r.kibitzCpu.toFixed(0)} | ${r.perPub.toFixed(1)} | ${r.pubCpu.toFixed(0)} |`);
    }
  }
}

// Last: the constants above must be initialised before either side runs.
if (process.argv.includes('--child')) await child(JSON.parse(process.argv[process.argv.indexOf('--child') + 1]!) as ChildSpec);
else if (process.argv.includes('--publishers') && process.argv[process.argv.indexOf('--publishers') + 1]!.startsWith('{')) {
  await publisherProcess(JSON.parse(process.argv[process.argv.indexOf('--publishers') + 1]!) as PubSpec);
} else await parent();
