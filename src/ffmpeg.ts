import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface FfmpegInfo {
  path: string;
  /** First line of `ffmpeg -version`. */
  version: string;
  /** Where the path came from, for the startup log. */
  source: 'config' | 'FFMPEG_PATH' | 'PATH' | 'ffmpeg-static';
}

export class FfmpegNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FfmpegNotFoundError';
  }
}

const cache = new Map<string, Promise<FfmpegInfo>>();

/**
 * Resolve the ffmpeg binary once: config `ffmpeg.path` / FFMPEG_PATH -> `ffmpeg` on PATH ->
 * ffmpeg-static (optional; its download often fails offline, so only if the file exists).
 * Each candidate must answer `-version`; the error names what to install.
 */
export function resolveFfmpeg(opts: { configPath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<FfmpegInfo> {
  const env = opts.env ?? process.env;
  const cacheKey = `${opts.configPath ?? ''}|${env.FFMPEG_PATH ?? ''}|${env.PATH ?? ''}`;
  let p = cache.get(cacheKey);
  if (!p) {
    p = doResolve(opts.configPath, env);
    cache.set(cacheKey, p);
    p.catch(() => cache.delete(cacheKey));
  }
  return p;
}

async function doResolve(configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<FfmpegInfo> {
  const tried: string[] = [];
  const explicit = configPath ? { path: configPath, source: 'config' as const } : env.FFMPEG_PATH ? { path: env.FFMPEG_PATH, source: 'FFMPEG_PATH' as const } : undefined;
  if (explicit) {
    const v = await version(explicit.path);
    if (v.ok) return { path: explicit.path, version: v.line, source: explicit.source };
    // An explicit choice that does not work is an error, not something to silently replace.
    throw new FfmpegNotFoundError(`ffmpeg at ${explicit.path} (from ${explicit.source === 'config' ? 'config ffmpeg.path' : 'FFMPEG_PATH'}) does not run: ${v.error}`);
  }
  const onPath = await version('ffmpeg');
  if (onPath.ok) return { path: 'ffmpeg', version: onPath.line, source: 'PATH' };
  tried.push(`ffmpeg on PATH (${onPath.error})`);
  const staticPath = ffmpegStaticPath();
  if (staticPath && existsSync(staticPath)) {
    const v = await version(staticPath);
    if (v.ok) return { path: staticPath, version: v.line, source: 'ffmpeg-static' };
    tried.push(`ffmpeg-static at ${staticPath} (${v.error})`);
  } else {
    tried.push('ffmpeg-static (not installed)');
  }
  throw new FfmpegNotFoundError(
    `ffmpeg not found — install it (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg) ` +
    `or set FFMPEG_PATH / ffmpeg.path in the config. Tried: ${tried.join('; ')}`,
  );
}

function ffmpegStaticPath(): string | undefined {
  try {
    const req = createRequire(import.meta.url);
    const p = req('ffmpeg-static') as unknown;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

function version(bin: string): Promise<{ ok: true; line: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['-hide_banner', '-version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) resolve({ ok: false, error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : err.message.split('\n')[0]! });
      else resolve({ ok: true, line: stdout.split('\n')[0]!.trim() });
    });
  });
}
