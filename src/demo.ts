import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from './app.ts';
import { loadConfig, PROJECT_ROOT } from './config/load.ts';
import { formatStreamTime, type KibitzEvent } from './events.ts';
import { resolveFfmpeg } from './ffmpeg.ts';
import { createLogger } from './log.ts';
import { embeddedModelHost } from './model_host/embedded.ts';
import type { StreamSession } from './stream/session.ts';

export const SAMPLES_DIR = path.join(PROJECT_ROOT, 'models', 'samples');

export interface DemoOptions {
  /** Video to stream; the first bundled sample broadcast by default. */
  file?: string;
  /** A question asked this far into the stream (ms); 0 to skip. */
  askAtMs?: number;
  question?: string;
  /** Questions asked when the stream reaches `atMs` (instead of the single demo question). */
  questions?: { atMs: number; question: string }[];
  out?: (line: string) => void;
  signal?: AbortSignal;
  /** Model package folder; the configured one (models/kibitz-demo) by default. */
  packageDir?: string;
}

export interface DemoResult {
  events: KibitzEvent[];
  summary: string;
  /** ms from asking to the answer, per question asked. */
  askLatencies: number[];
  /** ms from a frame leaving the decoder to its commentary line being published. */
  commentaryLatencies: number[];
  framesProcessed: number;
  framesSkipped: number;
  /** Generated lines the guards kept back, by rule (src/model/line_guard.ts). */
  linesDropped: Record<string, number>;
  /** Where the model looked at the end, and how it got there (`GET /api/streams` item `view`). */
  view: ReturnType<StreamSession['viewStatus']> | null;
  /** Stream time of the first commentary line (ms), null when there was none. */
  firstLineMs: number | null;
}

export function defaultSample(): string {
  const files = existsSync(SAMPLES_DIR) ? readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.mp4')).sort() : [];
  if (files.length === 0) throw new Error(`no sample broadcast in ${SAMPLES_DIR}: generate them with the toolkit (models/README.md) or pass a FILE`);
  return path.join(SAMPLES_DIR, files[0]!);
}

/**
 * `kibitz demo`: starts kibitz on free ports with the bundled model, streams a sample broadcast
 * into it over RTMP in real time like OBS would, prints the live commentary, asks one question,
 * then prints a summary and stops. Needs nothing else running.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const file = opts.file ?? defaultSample();
  const base = loadConfig({ generateKeys: false });
  // The same ffmpeg decodes and plays OBS (publishes the sample), so it must do both.
  const ffmpeg = await resolveFfmpeg({ configPath: base.ffmpeg.path, jobs: ['decode', 'publish'] });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kibitz-demo-'));
  const key = randomBytes(12).toString('hex');
  const config = loadConfig({
    overrides: {
      model: { package: opts.packageDir ?? base.model.package ?? 'models/kibitz-demo' },
      http: { host: '127.0.0.1', port: 0 }, rtmp: { host: '127.0.0.1', port: 0 }, dataDir,
      streams: [{ name: 'demo', key }], plugins: {}, log: { level: 'warn' },
    },
  });
  const log = createLogger({ level: 'warn' });
  const host = embeddedModelHost();
  const app = createApp(config, { log, ffmpeg, modelHost: host });
  const events: KibitzEvent[] = [];
  try {
    await app.start(opts.signal);
    const engine = host.engine!;
    app.bus.subscribe((ev) => {
      if (ev.kind === 'status') return;
      events.push(ev);
      const who = ev.kind === 'answer' ? ` (asked by ${ev.user}: "${ev.question}")` : '';
      if (ev.kind !== 'summary') out(`[${formatStreamTime(ev.streamTimeMs)}] ${ev.kind}${who}: ${ev.text}`);
    });
    out(`kibitz demo: streaming ${path.relative(process.cwd(), file)} over RTMP to rtmp://127.0.0.1:${app.rtmp.port}/live in real time (Ctrl-C stops)`);
    out(`watch it live: http://127.0.0.1:${app.http.port}/api/streams/demo/events`);

    const publisher = spawn(ffmpeg.path, ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${app.rtmp.port}/live/${key}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    publisher.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const onAbort = () => publisher.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const askAt = opts.askAtMs ?? 20_000;
    const questions = opts.questions ?? (askAt > 0 ? [{ atMs: askAt, question: opts.question ?? 'what is the score?' }] : []);
    const pendingQ = [...questions].sort((a, b) => a.atMs - b.atMs);
    const asked: Promise<void>[] = [];
    const askLatencies: number[] = [];
    // Questions go in when the stream (media time) reaches their moment.
    const askTimer = setInterval(() => {
      const now = app.sessions.get('demo')?.streamTimeMs ?? -1;
      while (pendingQ.length > 0 && pendingQ[0]!.atMs <= now) {
        const q = pendingQ.shift()!;
        const t0 = performance.now();
        asked.push(engine.ask({ stream: 'demo', question: q.question, user: 'demo-viewer', source: 'demo' })
          .then(() => void askLatencies.push(performance.now() - t0), (err: Error) => out(`(question not answered: ${err.message})`)));
      }
    }, 50);

    const code = await new Promise<number>((resolve) => publisher.on('close', (c) => resolve(c ?? 1)));
    clearInterval(askTimer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (code !== 0 && !opts.signal?.aborted) throw new Error(`ffmpeg could not stream ${file}: ${stderr.trim() || `exit ${code}`}`);
    await Promise.all(asked);
    // Let the last sampled frames reach the model.
    await new Promise((r) => setTimeout(r, 1500));
    const s = await engine.summary('demo', 60);
    out(`\nsummary (${formatStreamTime(s.from)}-${formatStreamTime(s.to)}): ${s.summary}`);
    const stats = engine.stats('demo');
    if (stats) out(`\n${stats.framesProcessed} frames seen by the model, ${stats.framesSkipped} skipped, ${stats.lines} lines said, ${stats.answers} questions answered`);
    return {
      events, summary: s.summary, askLatencies, commentaryLatencies: [...engine.commentaryLatencies],
      framesProcessed: stats?.framesProcessed ?? 0, framesSkipped: stats?.framesSkipped ?? 0, linesDropped: { ...stats?.linesDropped },
      view: app.sessions.get('demo')?.viewStatus() ?? null,
      firstLineMs: events.find((e) => e.kind === 'commentary')?.streamTimeMs ?? null,
    };
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
