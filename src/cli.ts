import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from './app.ts';
import { ConfigError } from './config_error.ts';
import { autoKeyFile, loadConfig, PROJECT_ROOT } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { describeFfmpeg, FfmpegNotFoundError, resolveFfmpeg, type FfmpegInfo } from './ffmpeg.ts';
import { PortInUseError } from './ingest/rtmp.ts';
import { createLogger, LOG_FORMATS, type LogFormat } from './log.ts';
import { modelHostFor } from './model_host/choose.ts';
import { startPlugins } from './plugins/host.ts';

const USAGE = `usage: kibitz <command> [options]

  serve [--config FILE] [--log-format auto|pretty|json]
                                   run kibitz (RTMP ingest, HTTP API, model, plugins);
                                   logs: readable on a terminal, JSON lines otherwise (auto)
  push FILE [--key KEY] [--url rtmp://HOST:PORT/live] [--loop] [--config FILE]
                                   stream a video file in real time, like OBS would
                                   (default key: the first configured stream's)
  demo [FILE | chess | world] [--package DIR]
                                   start kibitz, stream a bundled sample broadcast (or FILE)
                                   into it and print the live commentary, then a summary;
                                   default "chess": a real game (xboard) with models/kibitz-chess,
                                   "world": the synthetic demo world with models/kibitz-demo
  worker [--config FILE] [--log-format auto|pretty|json]
                                   run the model for streams of "serve" nodes that use
                                   queue: { kind: redis, url } (scale-out; one per GPU)
  bench NAME [ARGS]                run bench/NAME.ts (ingest, model, queue, whip); prints a table
  import videollm-online CHECKPOINT --out DIR [--llm DIR] [--vision DIR] [--name NAME]
                                   turn a downloaded VideoLLM-online checkpoint (base Llama-3
                                   folder, LoRA adapter folder, SigLIP folder) into a model
                                   package (README.md "Run a real model")

config: config/default.yaml, then --config FILE, then KIBITZ_* environment variables
        (KIBITZ_HTTP_PORT=9000, KIBITZ_STREAMS_0_KEY=...)`;

/** Exit codes: 0 ok, 1 runtime error (port in use, ffmpeg missing), 2 usage or config error. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'push':
        return await push(rest);
      case 'demo':
        return await demo(rest);
      case 'worker':
        return await worker(rest);
      case 'bench':
        return await bench(rest);
      case 'import':
        return await importCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        process.exit(command === undefined ? 2 : 0);
        return;
      default:
        console.error(`unknown command "${command}"\n\n${USAGE}`);
        process.exit(2);
    }
  } catch (err) {
    fatal(err);
  }
}

function fatal(err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(`config error: ${err.key}: ${err.problem}`);
    process.exit(2);
  }
  if (err instanceof UsageError) {
    console.error(`${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (err instanceof PortInUseError || err instanceof FfmpegNotFoundError) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  console.error(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
}

class UsageError extends Error {}

function parse(args: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `--log-format auto|pretty|json` overrides `log.format` (pretty on a terminal, JSON for a log shipper). */
const LOG_FORMAT_OPTION = { 'log-format': { type: 'string' } } as const;

/** `--config FILE` and `--log-format`: the loaded config and a logger for it (serve, worker). */
function configAndLog(args: string[]) {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, ...LOG_FORMAT_OPTION });
  const flag = values['log-format'];
  if (flag !== undefined && !(LOG_FORMATS as readonly unknown[]).includes(flag)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')} (got "${String(flag)}")`);
  const config = loadConfig({ file: values.config as string | undefined });
  return { config, log: createLogger({ level: config.log.level, format: (flag as LogFormat | undefined) ?? config.log.format }) };
}

async function serve(args: string[]): Promise<void> {
  const { config, log } = configAndLog(args);
  // Where the model runs is decided here, once: Redis workers (scale-out), this process, or nowhere.
  const app = createApp(config, { log, modelHost: modelHostFor(config) });
  // Plugins register routes (the overlay page), so they start before the server listens.
  const plugins = await startPlugins({
    config: app.config, bus: app.bus, gate: app.questions, http: app.http, log: app.log.child({ component: 'plugins' }),
  });
  app.onClose(() => plugins.close());
  app.metrics.addPluginCounters(() => plugins.counters());
  if (config.queue.kind === 'redis') log.info('queue: redis — start `kibitz worker` processes (same config) to run the model');
  else if (!config.model.package) log.warn('no model.package configured: streams are ingested but nobody comments on them');

  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) {
      log.warn('second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  await app.start();
  printStartup(config, app.rtmp.port, app.http.port, app.ffmpeg!, log);
}

function printStartup(config: Config, rtmpPort: number, httpPort: number, ffmpeg: FfmpegInfo, log: ReturnType<typeof createLogger>): void {
  const hosts = config.rtmp.host === '0.0.0.0' || config.rtmp.host === '::' ? lanAddresses() : [config.rtmp.host];
  const httpHost = config.http.host === '0.0.0.0' ? hosts[0] ?? '127.0.0.1' : config.http.host;
  log.info(`kibitz is running — HTTP http://${httpHost}:${httpPort} (streams: /api/streams, metrics: /metrics)`);
  log.info(`point OBS at: Settings > Stream > Service "Custom...", Server ${hosts.map((h) => `rtmp://${h}:${rtmpPort}/live`).join(' or ')}, Stream Key = the stream's key`);
  for (const s of config.streams) {
    const rel = path.relative(process.cwd(), autoKeyFile(config.dataDir, s.name));
    const auto = rel.startsWith('..') ? autoKeyFile(config.dataDir, s.name) : rel;
    const keyFrom = existsSync(autoKeyFile(config.dataDir, s.name)) && readFileSync(autoKeyFile(config.dataDir, s.name), 'utf8').trim() === s.key
      ? `its key is in ${auto}` : 'its key is in your config';
    log.info(`stream "${s.name}": ${keyFrom}; events at http://${httpHost}:${httpPort}/api/streams/${s.name}/events`);
  }
  if (config.streams.length === 0) log.warn('no streams configured: every publish will be refused (add streams: [{ name, key }] to the config)');
  const plugins = Object.keys(config.plugins).filter((p) => p !== 'questions');
  log.info(`plugins configured: ${plugins.length ? plugins.join(', ') : 'none'}`);
  log.info(`model: ${config.model.package ? `${path.relative(PROJECT_ROOT, config.model.package) || config.model.package} (provider ${config.model.provider}, ${config.model.fps} fps, frames ${config.decode.width}x${config.decode.height})` : `none — ingest only (set model.package); frames ${config.decode.width}x${config.decode.height} at ${config.model.fps} fps`}`);
  for (const s of ffmpeg.skipped) log.warn(`ffmpeg: not using ${s}`);
  log.info(`ffmpeg: ${describeFfmpeg(ffmpeg)}`);
}

function lanAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  return out.length ? [...out, '127.0.0.1'] : ['127.0.0.1'];
}

async function push(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    key: { type: 'string', short: 'k' }, url: { type: 'string' }, loop: { type: 'boolean' }, config: { type: 'string', short: 'c' },
  }, true);
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('push needs exactly one FILE');
  if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
  let key = values.key as string | undefined;
  let base = values.url as string | undefined;
  if (!key || !base) {
    const config = loadConfig({ file: values.config as string | undefined });
    base ??= `rtmp://127.0.0.1:${config.rtmp.port}/live`;
    if (!key) {
      key = config.streams[0]?.key;
      if (!key) throw new UsageError('no --key given and no stream configured');
      console.error(`using the key of stream "${config.streams[0]!.name}" from the config`);
    }
  }
  const ffmpeg = await resolveFfmpeg({ configPath: tryConfigFfmpeg(values.config as string | undefined), jobs: ['publish'] });
  const vcodec = probeVideoCodec(ffmpeg.path, file);
  if (vcodec === null) throw new UsageError(`${file} has no video stream`);
  if (vcodec !== 'h264' && !ffmpeg.caps.encoders.has('libx264')) {
    throw new UsageError(`${file} is ${vcodec}, and ffmpeg at ${ffmpeg.path} has no libx264 to convert it to H.264: convert the file to H.264, or set FFMPEG_PATH to a build with libx264`);
  }
  const url = `${base.replace(/\/+$/, '')}/${key}`;
  const ffArgs = [
    '-hide_banner', '-loglevel', 'error', '-stats', '-re', ...(values.loop ? ['-stream_loop', '-1'] : []), '-i', file,
    '-map', '0:v:0', '-map', '0:a:0?',
    ...(vcodec === 'h264' ? ['-c:v', 'copy'] : ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '60', '-pix_fmt', 'yuv420p']),
    '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', url,
  ];
  for (const s of ffmpeg.skipped) console.error(`ffmpeg: not using ${s}`);
  console.error(`ffmpeg: ${describeFfmpeg(ffmpeg)}`);
  console.error(`pushing ${file} (${vcodec === 'h264' ? 'H.264, copied' : `${vcodec} -> H.264`}) to ${base.replace(/\/+$/, '')}/*** in real time${values.loop ? ', looping' : ''}; Ctrl-C stops`);
  const child = spawn(ffmpeg.path, ffArgs, { stdio: ['ignore', 'inherit', 'pipe'] });
  // ffmpeg repeats the output URL in its errors: keep the key off the terminal (screen shares).
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d.toString('utf8').split(key!).join('***')));
  const kill = () => child.kill('SIGINT');
  process.on('SIGINT', kill);
  process.on('SIGTERM', kill);
  const code = await new Promise<number>((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 0 : 1))));
  process.exit(code);
}

async function bench(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  const dir = path.join(PROJECT_ROOT, 'bench');
  const names = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  if (!name || !names.includes(name)) throw new UsageError(`bench needs one of: ${names.join(', ')}`);
  const child = spawn(process.execPath, ['--import', 'tsx/esm', path.join(dir, `${name}.ts`), ...rest], { stdio: 'inherit', cwd: PROJECT_ROOT });
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  process.exit(code);
}

async function importCommand(args: string[]): Promise<void> {
  const { importModel, ImportUsageError } = await import('./import_model.ts');
  try {
    process.exit(await importModel(args));
  } catch (err) {
    if (err instanceof ImportUsageError) throw new UsageError(err.message);
    throw err;
  }
}

async function worker(args: string[]): Promise<void> {
  const { config, log } = configAndLog(args);
  if (config.queue.kind !== 'redis') throw new UsageError('kibitz worker needs queue: { kind: redis, url: redis://HOST:6379 } in the config (or KIBITZ_QUEUE_KIND=redis KIBITZ_QUEUE_URL=...)');
  const { runWorker } = await import('./model_host/worker.ts');
  const w = await runWorker(config, { log });
  const stop = () => void w.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/**
 * `demo` / `demo chess`: the real-game package on its held-out sample (models/README.md, "A
 * package for chess"); `demo world`: the synthetic world the toolkit tests itself on.
 */
const DEMO_SETS: Record<string, { file?: string; packageDir: string; question: string }> = {
  chess: { file: 'models/samples/chess/broadcast1.mp4', packageDir: 'models/kibitz-chess', question: 'whose move is it?' },
  world: { packageDir: 'models/kibitz-demo', question: 'what is the score?' },
};

async function demo(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { package: { type: 'string' } }, true);
  // no file and no package: the chess demo; a FILE (or --package) alone: that, on the configured package
  const set = DEMO_SETS[positionals[0] ?? (values.package ? '' : 'chess')];
  const file = set?.file ?? positionals[0];
  const packageDir = (values.package as string | undefined) ?? set?.packageDir;
  const { runDemo } = await import('./demo.ts');
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  await runDemo({ file, signal: ac.signal, ...(packageDir ? { packageDir } : {}), ...(set ? { question: set.question } : {}) });
  process.exit(0);
}

function tryConfigFfmpeg(file: string | undefined): string | undefined {
  try {
    return loadConfig({ file, generateKeys: false }).ffmpeg.path;
  } catch {
    return undefined;
  }
}

/** The first video stream's codec name from `ffmpeg -i` (ffprobe is not always there). */
function probeVideoCodec(ffmpegPath: string, file: string): string | null {
  const r = spawnSync(ffmpegPath, ['-hide_banner', '-i', file], { encoding: 'utf8' });
  const m = /Stream #\d+:\d+[^:]*: Video: (\w+)/.exec(r.stderr ?? '');
  return m ? m[1]! : null;
}

