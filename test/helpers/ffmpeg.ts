import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DIR = path.join(os.tmpdir(), 'kibitz-test-fixtures');

/**
 * What OBS sends, encoded once per machine and cached: 1280x720 30 fps H.264 (libx264, High,
 * B-frames `-bf 3`, keyframe every 2 s `-g 60`) + AAC, `seconds` long. Publishing it with
 * `-c copy` costs almost no CPU, so tests measure kibitz, not the encoder.
 */
export function h264Fixture(seconds = 6): string {
  const file = path.join(DIR, `testsrc2-720p30-bf3-g60-${seconds}s.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'high', '-bf', '3', '-g', '60', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '96k', '-shortest', tmp,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`fixture encode failed: ${r.stderr?.toString()}`);
  renameSync(tmp, file); // atomic: parallel test files may race to create it
  return file;
}

export interface Publisher {
  child: ChildProcess;
  /** Resolves with the exit code when ffmpeg ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function track(child: ChildProcess): Publisher {
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Publish a file in real time (`-re`, copy) like OBS would. */
export function publishFile(url: string, file: string, opts: { loop?: boolean; extra?: string[] } = {}): Publisher {
  return track(spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', ...(opts.loop ? ['-stream_loop', '-1'] : []), '-i', file,
    ...(opts.extra ?? []), '-c', 'copy', '-f', 'flv', url,
  ], { stdio: ['ignore', 'ignore', 'ignore'] }));
}

/** Audio-only publish (no video track at all). */
export function publishAudioOnly(url: string, seconds = 5): Publisher {
  return track(spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:a', 'aac', '-f', 'flv', url,
  ], { stdio: ['ignore', 'ignore', 'ignore'] }));
}

/**
 * process.env as on a machine without a system ffmpeg: no PATH directory that holds one, no
 * FFMPEG_PATH / KIBITZ_FFMPEG_PATH. Only for kibitz: the test publishers still use the system one.
 */
export function envWithoutSystemFfmpeg(): NodeJS.ProcessEnv {
  const hasFfmpeg = (dir: string) => {
    try {
      accessSync(path.join(dir, 'ffmpeg'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && !hasFfmpeg(d)).join(path.delimiter) };
  delete env.FFMPEG_PATH;
  delete env.KIBITZ_FFMPEG_PATH;
  return env;
}
