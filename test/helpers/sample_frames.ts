import { spawnSync } from 'node:child_process';
import { frameFilter } from '../../src/decode/filter.ts';

const cache = new Map<string, Uint8Array[]>();

/**
 * Frames of a held-out sample broadcast, decoded once per process with the service's chain at
 * 2 fps: the bundled model's own world, so its in-world score lets it think and speak. (Noise
 * and test patterns are outside that world: the engine rightly stays silent on them.)
 */
export function sampleFrames(width = 256, height = 144, file = 'models/samples/broadcast1.mp4'): Uint8Array[] {
  const key = `${file}@${width}x${height}`;
  let frames = cache.get(key);
  if (!frames) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', file, '-vf', frameFilter(2, width, height), '-f', 'rawvideo', '-'], { maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`could not decode ${file}: ${r.stderr?.toString()}`);
    const size = width * height * 3;
    frames = Array.from({ length: Math.floor(r.stdout.length / size) }, (_, i) => new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + i * size, size));
    cache.set(key, frames);
  }
  return frames;
}
