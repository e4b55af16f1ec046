import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DIR = path.join(os.tmpdir(), 'kibitz-test-fixtures');
/** Source frame i shows i in binary: bit b is the b-th of BITS vertical stripes, white = 1. */
const BITS = 10;
export const NUMBERED_CLIP_FPS = 30;

/**
 * A frame-numbered clip, encoded like OBS sends it (720p30 H.264 High, B-frames `-bf 3`,
 * keyframe every 2 s, AAC): checks which source frame each sampled frame is. Wide stripes
 * survive the scale to the model's size (down to ~20 px each at 192 wide). `keyframeAt`: one
 * more keyframe at that source frame, as x264's scene cut puts one when a game window appears.
 */
export function numberedClip(seconds = 6, keyframeAt?: number): string {
  const file = path.join(DIR, `numbered-720p30-bf3-g60-${seconds}s${keyframeAt ? `-key${keyframeAt}` : ''}.mp4`);
  if (existsSync(file)) return file;
  mkdirSync(DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp.mp4`;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `nullsrc=size=${BITS}x2:rate=${NUMBERED_CLIP_FPS}:duration=${seconds},format=gray,` +
      "geq=lum='if(bitand(N,pow(2,X)),255,0)',scale=1280:720:flags=neighbor,format=yuv420p",
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'high', '-bf', '3', '-g', '60', '-crf', '18',
    ...(keyframeAt ? ['-force_key_frames', `expr:eq(n,${keyframeAt})`] : []),
    '-c:a', 'aac', '-b:a', '96k', '-shortest', tmp,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`numbered clip encode failed: ${r.stderr?.toString()}`);
  renameSync(tmp, file); // atomic: parallel test files may race to create it
  return file;
}

/** The source frame number shown in a decoded RGB24 frame of numberedClip(). */
export function frameNumber(rgb: Uint8Array, width: number, height: number): number {
  const y = Math.floor(height / 2);
  let n = 0;
  for (let b = 0; b < BITS; b++) {
    const x = Math.floor(((b + 0.5) * width) / BITS);
    if (rgb[(y * width + x) * 3]! > 128) n |= 1 << b;
  }
  return n;
}
