import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FfmpegProbeError, missingFor, probeFfmpeg, type FfmpegCaps, type FfmpegJob } from './ffmpeg_probe.ts';

export type FfmpegSource = 'config' | 'FFMPEG_PATH' | 'PATH' | 'bundled';

export interface FfmpegInfo {
  /** Absolute path (or the configured one, verbatim). */
  path: string;
  /** "ffmpeg version 5.1.9-0+deb12u1": `ffmpeg -version`'s first line up to the copyright. */
  version: string;
  /** Where the path came from, for the startup log. */
  source: FfmpegSource;
  /** What this build can do; command lines are built from it. */
  caps: FfmpegCaps;
  /** Builds passed over on the way to this one, and why (the startup log warns). */
  skipped: string[];
}

/** No usable ffmpeg: not installed, not runnable, or lacking something kibitz needs. */
export class FfmpegNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FfmpegNotFoundError';
  }
}

/** The npm package that ships the binary in its tarball (an optional dependency, per platform). */
export const BUNDLED_PACKAGE = '@ffmpeg-installer/ffmpeg';

const probes = new Map<string, Promise<FfmpegCaps>>();

/** Each binary is probed once per process. */
function probe(bin: string): Promise<FfmpegCaps> {
  let p = probes.get(bin);
  if (!p) {
    p = probeFfmpeg(bin);
    probes.set(bin, p);
    p.catch(() => probes.delete(bin));
  }
  return p;
}

interface Candidate {
  path: string;
  source: FfmpegSource;
}

/**
 * The one place that picks ffmpeg. An explicit choice — config `ffmpeg.path`
 * (KIBITZ_FFMPEG_PATH), else FFMPEG_PATH — is used or refused, never silently replaced.
 * Otherwise `ffmpeg` on PATH (a system build gets security updates; README), then the bundled
 * one from BUNDLED_PACKAGE, so `npm install && npm start` works with no system ffmpeg. A
 * candidate must run and have everything `jobs` need (ffmpeg_probe.ts).
 */
export async function resolveFfmpeg(opts: { configPath?: string; env?: NodeJS.ProcessEnv; jobs?: FfmpegJob[] } = {}): Promise<FfmpegInfo> {
  const env = opts.env ?? process.env;
  const jobs = opts.jobs ?? ['decode'];
  const explicit: Candidate | undefined = opts.configPath ? { path: opts.configPath, source: 'config' }
    : env.FFMPEG_PATH ? { path: env.FFMPEG_PATH, source: 'FFMPEG_PATH' } : undefined;
  if (explicit) {
    const r = await check(explicit, jobs);
    if ('info' in r) return { ...r.info, skipped: [] };
    const from = explicit.source === 'config' ? 'config ffmpeg.path (KIBITZ_FFMPEG_PATH)' : 'FFMPEG_PATH';
    throw new FfmpegNotFoundError(`ffmpeg at ${r.problem} (from ${from}). Fix ${from}, or unset it to use ffmpeg on PATH or the bundled one.`);
  }

  const skipped: string[] = [];
  const onPath = findOnPath(env.PATH ?? '');
  if (onPath) {
    const r = await check({ path: onPath, source: 'PATH' }, jobs);
    if ('info' in r) return { ...r.info, skipped };
    skipped.push(`${r.problem} (on PATH)`);
  }
  const bundled = bundledPath();
  let bundledProblem: string;
  if ('path' in bundled) {
    const r = await check({ path: bundled.path, source: 'bundled' }, jobs);
    if ('info' in r) return { ...r.info, skipped };
    bundledProblem = `${r.problem} (bundled)`;
  } else {
    bundledProblem = bundled.problem;
  }
  throw new FfmpegNotFoundError(
    `no usable ffmpeg: ${[...(onPath ? skipped : ['no ffmpeg on PATH']), bundledProblem].join('; ')}. Run \`npm install\` ` +
    `(it installs ${BUNDLED_PACKAGE}), or install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg), ` +
    'or set FFMPEG_PATH / ffmpeg.path.',
  );
}

/** For the startup log: "ffmpeg version 5.1.9 — /usr/bin/ffmpeg (on PATH)". */
export function describeFfmpeg(info: FfmpegInfo): string {
  const from = { config: 'config ffmpeg.path', FFMPEG_PATH: 'FFMPEG_PATH', PATH: 'on PATH', bundled: `bundled, ${BUNDLED_PACKAGE}` }[info.source];
  return `${info.version} — ${info.path} (${from})`;
}

/** `problem` starts with the path: "/usr/bin/ffmpeg does not run: ...", "/x/ffmpeg (ffmpeg version 3.4) lacks ...". */
async function check(c: Candidate, jobs: FfmpegJob[]): Promise<{ info: Omit<FfmpegInfo, 'skipped'> } | { problem: string }> {
  let caps: FfmpegCaps;
  try {
    caps = await probe(c.path);
  } catch (err) {
    if (err instanceof FfmpegProbeError) return { problem: `${c.path} does not run: ${err.message}` };
    throw err;
  }
  const missing = [...new Set(jobs.flatMap((j) => missingFor(caps, j)))];
  if (missing.length) return { problem: `${c.path} (${caps.version}) lacks ${missing.join(', ')}` };
  return { info: { path: c.path, version: caps.version, source: c.source, caps } };
}

/** The first executable `ffmpeg` in `PATH`, as an absolute path (the log says which one). */
function findOnPath(pathVar: string): string | undefined {
  const name = process.platform === 'win32' ? 'ffmpeg.exe' : 'ffmpeg';
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.resolve(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The bundled binary's path; the package throws (a string) when this platform has none installed. */
function bundledPath(): { path: string } | { problem: string } {
  try {
    const { path: p } = createRequire(import.meta.url)(BUNDLED_PACKAGE) as { path: string };
    return { path: p };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: code === 'MODULE_NOT_FOUND' ? `${BUNDLED_PACKAGE} is not installed` : `${BUNDLED_PACKAGE}: ${String(err)}` };
  }
}
