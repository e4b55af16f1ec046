/**
 * Decode CPU per 720p30 stream with each ffmpeg kibitz can use: the one on PATH (system) and
 * the bundled one (@ffmpeg-installer). Each runs kibitz's exact decode command line
 * (Decoder.args for that build's probed options, the default config's fps and frame size) on
 * a 720p30 H.264 clip encoded like OBS's default x264 output (veryfast, 4.5 Mbit/s, High,
 * 2 B-frames, keyframe every 2 s), reading it as fast as it can; and `-version` alone, the
 * cost of starting the process (paid again on every reconnect). CPU is user+sys of the
 * ffmpeg child (this process's cutime+cstime from /proc, Linux), which does not depend on
 * how busy the machine is the way wall time does.
 *
 *   npx tsx bench/ffmpeg_decode.ts [--seconds 30] [--runs 5]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/load.ts';
import { Decoder } from '../src/decode/decoder.ts';
import { FfmpegNotFoundError, resolveFfmpeg, type FfmpegInfo } from '../src/ffmpeg.ts';
import { fmt, table } from './table.ts';

const CLK_TCK = 100; // getconf CLK_TCK on Linux

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, runs: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const runs = Number(values.runs);

const builds: FfmpegInfo[] = [];
for (const env of [process.env, { PATH: '' }]) {
  try {
    const b = await resolveFfmpeg({ env: { ...env, FFMPEG_PATH: undefined } });
    if (!builds.some((x) => x.path === b.path)) builds.push(b);
  } catch (err) {
    if (!(err instanceof FfmpegNotFoundError)) throw err;
  }
}
if (builds.length === 0) throw new Error('no ffmpeg on PATH and none bundled: run `npm install`');

const config = loadConfig({ generateKeys: false });
const { fps } = config.model;
const { width, height } = config.decode;
const clip = obsLikeClip(builds[0]!.path);
const frameBytes = width * height * 3;

// Interleaved (A B A B ...), so a change in the machine's load hits every build alike.
const cpu = new Map<FfmpegInfo, { decode: number[]; start: number[] }>(builds.map((b) => [b, { decode: [], start: [] }]));
for (let r = 0; r < runs; r++) {
  for (const b of builds) {
    cpu.get(b)!.decode.push(await decodeCpuSeconds(b));
    cpu.get(b)!.start.push(await childCpuSeconds(b.path, ['-hide_banner', '-version']));
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const pctOf = (s: number) => fmt((100 * s) / seconds, 1);
console.log(`\n${seconds} s of 720p30 H.264 -> ${fps} fps ${width}x${height} RGB, ${runs} runs each; machine: ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
table(
  ['ffmpeg', 'version', 'decode CPU, % of one core per 720p30 stream: median (min-max)', 'process start CPU ms (median)'],
  builds.map((b) => {
    const { decode, start } = cpu.get(b)!;
    return [
      b.source === 'bundled' ? 'bundled' : `${b.path} (${b.source})`, b.version.replace(/^ffmpeg version /, ''),
      `${pctOf(median(decode))} (${pctOf(Math.min(...decode))}-${pctOf(Math.max(...decode))})`, fmt(median(start) * 1000, 0),
    ];
  }),
);
for (const b of builds) console.log(`\n${b.source}: ffmpeg ${Decoder.args({ input: { label: 'file', args: ['-i', 'CLIP'] }, fps, width, height }, b.caps).join(' ')}`);

/** CPU seconds (user+sys) one decode of the clip takes; checks the frame count. */
async function decodeCpuSeconds(b: FfmpegInfo): Promise<number> {
  let bytes = 0;
  const s = await childCpuSeconds(b.path, Decoder.args({ input: { label: 'file', args: ['-i', clip] }, fps, width, height }, b.caps), (d) => (bytes += d.length));
  const frames = bytes / frameBytes;
  if (Math.abs(frames - seconds * fps) > 1) throw new Error(`${b.path} gave ${frames} frames, expected ${seconds * fps}`);
  return s;
}

async function childCpuSeconds(bin: string, args: string[], onStdout: (d: Buffer) => void = () => {}): Promise<number> {
  const before = childTicks();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', onStdout);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${bin} exited with ${code}`);
  return (childTicks() - before) / CLK_TCK;
}

/** cutime + cstime of this process: CPU of the children it has waited for. */
function childTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]); // fields 16 and 17 of proc(5), counted from "state"
}

function obsLikeClip(ffmpeg: string): string {
  const dir = path.join(os.tmpdir(), 'kibitz-test-fixtures');
  const file = path.join(dir, `testsrc2-720p30-obs-x264-${seconds}s.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const r = spawnSync(ffmpeg, [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-b:v', '4500k', '-maxrate', '4500k', '-bufsize', '9000k',
    '-bf', '2', '-g', '60', '-pix_fmt', 'yuv420p', tmp,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('clip encode failed');
  renameSync(tmp, file);
  return file;
}
