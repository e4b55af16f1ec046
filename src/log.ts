import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export interface LogOptions {
  level?: string;
  /** pretty: `12:00:01 INFO  msg key=value`; json: pino lines; auto: pretty on a TTY. */
  format?: 'auto' | 'pretty' | 'json';
  /** Defaults to stdout. */
  destination?: { write(s: string): unknown };
}

/** Fields that may hold secrets: never printed, whatever a caller passes. */
const REDACT = ['key', 'streamKey', 'token', 'password', 'authorization', '*.key', '*.streamKey', '*.token', '*.password', '*.authorization'];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** Readable single lines for a streamer's terminal; no extra dependency (pino-pretty is not installed). */
function prettyStream(out: { write(s: string): unknown }) {
  return {
    write(line: string) {
      try {
        const { level, time, msg, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const t = new Date(Number(time)).toTimeString().slice(0, 8);
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        out.write(`${t} ${LEVEL_NAMES[Number(level)] ?? level} ${String(msg ?? '')}${extra ? '  ' + extra : ''}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}

export function createLogger(opts: LogOptions = {}): Logger {
  const out = opts.destination ?? process.stdout;
  const pretty = opts.format === 'pretty' || (opts.format !== 'json' && out === process.stdout && process.stdout.isTTY === true);
  return pino(
    { level: opts.level ?? 'info', redact: { paths: REDACT, censor: '[redacted]' }, base: undefined },
    pretty ? prettyStream(out) : (out as NodeJS.WritableStream),
  );
}
