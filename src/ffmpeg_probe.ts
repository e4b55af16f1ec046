import { execFile } from 'node:child_process';

/**
 * What one ffmpeg build can do, read once from its own listings. kibitz builds its command
 * lines from this instead of from a version number: builds are configured very differently
 * (Debian's 5.1, the bundled 2018 static build, Homebrew's 7.x) and version strings of
 * static and git builds say little ("N-47683-g0e8eb07980-static").
 */
export interface FfmpegCaps {
  /** "ffmpeg version 5.1.9-0+deb12u1": `ffmpeg -version`'s first line up to the copyright. */
  version: string;
  filters: ReadonlySet<string>;
  /** The fps filter has `round=up` (frame n = newest source frame at or before n / fps). */
  fpsRoundUp: boolean;
  demuxers: ReadonlySet<string>;
  muxers: ReadonlySet<string>;
  decoders: ReadonlySet<string>;
  encoders: ReadonlySet<string>;
  inputProtocols: ReadonlySet<string>;
  outputProtocols: ReadonlySet<string>;
  /** Main options without the dash (`fps_mode`, `vsync`, `filter_threads`), from `-h long`. */
  options: ReadonlySet<string>;
}

/** What kibitz runs ffmpeg for: decoding a publish (serve) or publishing a file (push, demo). */
export type FfmpegJob = 'decode' | 'publish';

export class FfmpegProbeError extends Error {}

/** Runs the listings in parallel; throws FfmpegProbeError when the binary does not run. */
export async function probeFfmpeg(bin: string): Promise<FfmpegCaps> {
  const version = await run(bin, ['-version']);
  const [filters, fpsHelp, formats, decoders, encoders, protocols, help] = await Promise.all(
    [['-filters'], ['-h', 'filter=fps'], ['-formats'], ['-decoders'], ['-encoders'], ['-protocols'], ['-h', 'long']].map((a) => run(bin, a)),
  );
  const f = parseFormats(formats!);
  const p = parseProtocols(protocols!);
  return {
    version: version.split('\n')[0]!.replace(/\s+Copyright.*$/, '').trim(),
    filters: new Set(rows(filters!, /^\s*\S+\s+(\S+)\s+\S*->\S*/)),
    fpsRoundUp: optionHasValue(fpsHelp!, 'round', 'up'),
    demuxers: f.demuxers,
    muxers: f.muxers,
    decoders: new Set(rows(after(decoders!, /^\s*-{3,}\s*$/m), /^\s\S{6}\s+(\S+)/)),
    encoders: new Set(rows(after(encoders!, /^\s*-{3,}\s*$/m), /^\s\S{6}\s+(\S+)/)),
    inputProtocols: p.input,
    outputProtocols: p.output,
    options: new Set(rows(help!, /^-(\w+)\s/)),
  };
}

/**
 * What `caps` lacks for `job`, in words for the error message; empty when it can do the job.
 * Decode: the frame chain (src/decode/filter.ts), RTMP (FLV) and WHIP (MPEG-TS on a pipe) in,
 * H.264, raw RGB out, and a way to turn off ffmpeg's own frame dropping and duplication.
 * Publish: `kibitz push` / the demo copy the video and encode audio to AAC into FLV over RTMP.
 */
export function missingFor(caps: FfmpegCaps, job: FfmpegJob): string[] {
  const need: [boolean, string][] = job === 'decode'
    ? [
      ...['setpts', 'fps', 'scale', 'pad', 'format'].map((n): [boolean, string] => [caps.filters.has(n), `the ${n} filter`]),
      [!caps.filters.has('fps') || caps.fpsRoundUp, "the fps filter's round=up option (frame timing)"],
      [caps.inputProtocols.has('rtmp'), 'rtmp input'],
      [caps.inputProtocols.has('pipe') && caps.outputProtocols.has('pipe'), 'pipe input/output'],
      [caps.demuxers.has('flv'), 'the flv demuxer (RTMP)'],
      [caps.demuxers.has('mpegts'), 'the mpegts demuxer (WHIP)'],
      [caps.decoders.has('h264'), 'the h264 decoder'],
      [caps.muxers.has('rawvideo'), 'rawvideo output'],
      [caps.options.has('fps_mode') || caps.options.has('vsync'), 'the -fps_mode or -vsync option'],
      [caps.options.has('filter_threads'), 'the -filter_threads option'],
    ]
    : [
      [caps.muxers.has('flv'), 'the flv muxer'],
      [caps.outputProtocols.has('rtmp'), 'rtmp output'],
      [caps.encoders.has('aac'), 'the aac encoder'],
    ];
  return need.filter(([ok]) => !ok).map(([, what]) => what);
}

function run(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-hide_banner', ...args], { timeout: 10_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      const why = stderr.trim().split('\n').pop() || (err.killed ? 'timed out' : `exit ${String(code)}`);
      reject(new FfmpegProbeError(
        code === 'ENOENT' ? 'not found'
          : code === 'EACCES' ? `not executable (chmod u+x ${bin})`
            : `\`ffmpeg ${args.join(' ')}\` failed (${why})`,
      ));
    });
  });
}

/** First capture group of `row` on every line that matches. */
function rows(text: string, row: RegExp): string[] {
  return text.split('\n').flatMap((l) => {
    const m = row.exec(l);
    return m ? [m[1]!] : [];
  });
}

/** In `-h filter=NAME`: the option line, then its named values indented below it. */
function optionHasValue(help: string, option: string, value: string): boolean {
  const lines = help.split('\n');
  const i = lines.findIndex((l) => l.trim().startsWith(`${option} `) && l.includes('<'));
  if (i < 0) return false;
  const indent = lines[i]!.search(/\S/);
  for (const l of lines.slice(i + 1)) {
    if (l.search(/\S/) <= indent) break;
    if (l.trim().split(/\s+/)[0] === value) return true;
  }
  return false;
}

/** The text after the first line matching `sep` (the legend above it lists flags, not names). */
function after(text: string, sep: RegExp): string {
  const m = sep.exec(text);
  return m ? text.slice(m.index + m[0].length) : '';
}

/** `-formats`: " DE flv  FLV (Flash Video)", " D  mov,mp4,m4a,3gp,3g2,mj2  QuickTime / MOV"; 6.1+ adds a device column. */
function parseFormats(text: string): { demuxers: Set<string>; muxers: Set<string> } {
  const demuxers = new Set<string>();
  const muxers = new Set<string>();
  for (const line of after(text, /^\s*--\s*$/m).split('\n')) {
    const m = /^\s([D ])([E ])[d ]?\s+(\S+)/.exec(line);
    if (!m) continue;
    for (const name of m[3]!.split(',')) {
      if (m[1] === 'D') demuxers.add(name);
      if (m[2] === 'E') muxers.add(name);
    }
  }
  return { demuxers, muxers };
}

/** `-protocols`: "Input:" then one name a line, then "Output:" and the same. */
function parseProtocols(text: string): { input: Set<string>; output: Set<string> } {
  const input = new Set<string>();
  const output = new Set<string>();
  let into: Set<string> | null = null;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === 'Input:') into = input;
    else if (t === 'Output:') into = output;
    else if (t && into && !t.endsWith(':')) into.add(t);
  }
  return { input, output };
}
