import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFfmpeg } from '../src/ffmpeg.ts';
import { missingFor } from '../src/ffmpeg_probe.ts';
import { envWithoutSystemFfmpeg } from './helpers/ffmpeg.ts';

const hidden = envWithoutSystemFfmpeg();

/**
 * A dir holding `ffmpeg`: the real system one, except that its fps filter has no round=up.
 * Shell builtins only: kibitz may run it with a PATH that has no grep.
 */
async function ffmpegWithoutRoundUp(): Promise<string> {
  const real = (await resolveFfmpeg()).path;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-old-ffmpeg-'));
  const file = path.join(dir, 'ffmpeg');
  writeFileSync(file, [
    '#!/bin/sh',
    `[ "$3" = "filter=fps" ] || exec "${real}" "$@"`,
    `"${real}" "$@" | while IFS= read -r l; do case "$l" in *"     up  "*) ;; *) printf '%s\\n' "$l" ;; esac; done`,
  ].join('\n'));
  chmodSync(file, 0o755);
  return dir;
}

describe('which ffmpeg kibitz uses', () => {
  it('ffmpeg on PATH first; with none there, the bundled one', async () => {
    const system = await resolveFfmpeg();
    expect(system).toMatchObject({ source: 'PATH', path: expect.stringMatching(/^\/.*\/ffmpeg$/), version: expect.stringContaining('ffmpeg version') });
    const bundled = await resolveFfmpeg({ env: hidden });
    expect(bundled).toMatchObject({ source: 'bundled', path: expect.stringContaining('node_modules/@ffmpeg-installer/'), skipped: [] });
  });

  it('both builds have what decode and publish need; only the system one has -fps_mode', async () => {
    const system = await resolveFfmpeg({ jobs: ['decode', 'publish'] });
    const bundled = await resolveFfmpeg({ env: hidden, jobs: ['decode', 'publish'] });
    for (const { caps } of [system, bundled]) {
      expect(missingFor(caps, 'decode')).toEqual([]);
      expect(missingFor(caps, 'publish')).toEqual([]);
      expect(caps.encoders.has('libx264')).toBe(true); // `kibitz push` of a non-H.264 file
    }
    expect(system.caps.options.has('fps_mode')).toBe(true);
    expect(bundled.caps.options.has('fps_mode')).toBe(false);
    expect(bundled.caps.options.has('vsync')).toBe(true);
  });

  it('an explicit ffmpeg that does not run is refused, never replaced', async () => {
    await expect(resolveFfmpeg({ configPath: '/nonexistent/ffmpeg' })).rejects.toThrow('ffmpeg at /nonexistent/ffmpeg does not run: not found (from config ffmpeg.path (KIBITZ_FFMPEG_PATH))');
    await expect(resolveFfmpeg({ env: { ...hidden, FFMPEG_PATH: '/nonexistent/ffmpeg' } })).rejects.toThrow('(from FFMPEG_PATH)');
  });

  it('a build without fps round=up: passed over on PATH for the bundled one; named explicitly, `kibitz serve` refuses to start and says what is missing', async () => {
    const dir = await ffmpegWithoutRoundUp();
    const picked = await resolveFfmpeg({ env: { ...hidden, PATH: `${dir}${path.delimiter}${hidden.PATH}` } });
    expect(picked.source).toBe('bundled');
    expect(picked.skipped).toEqual([expect.stringMatching(new RegExp(`^${dir}/ffmpeg \\(ffmpeg version .*\\) lacks the fps filter's round=up option \\(frame timing\\) \\(on PATH\\)$`))]);

    const child = spawn(process.execPath, [path.resolve('bin/kibitz.mjs'), 'serve'], {
      env: { ...hidden, FFMPEG_PATH: path.join(dir, 'ffmpeg'), KIBITZ_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'kibitz-cli-')), KIBITZ_HTTP_PORT: '0', KIBITZ_RTMP_PORT: '0', KIBITZ_RTMP_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`error: ffmpeg at ${dir}/ffmpeg (ffmpeg version`);
    expect(stderr).toContain("lacks the fps filter's round=up option (frame timing) (from FFMPEG_PATH)");
  });
});
