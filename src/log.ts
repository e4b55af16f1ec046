import { pino, type Logger as PinoLogger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type Logger = PinoLogger;

export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  level?: string;
  /** pretty: `[12:00:01] INFO: msg` + fields (pino-pretty); json: pino lines for a log shipper; auto: pretty on a TTY. */
  format?: LogFormat;
  /** Defaults to stdout. */
  destination?: { write(s: string): unknown };
}

/** Fields that may hold secrets: never printed, whatever a caller passes. */
const REDACT = ['key', 'streamKey', 'token', 'password', 'authorization', '*.key', '*.streamKey', '*.token', '*.password', '*.authorization'];

/**
 * pino's own pretty printer, used synchronously (its factory, not its worker transport), so the
 * last lines before a crash or exit are never lost in a buffer.
 */
function prettyStream(out: { write(s: string): unknown }, colorize: boolean) {
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true });
  return { write: (line: string) => out.write(pretty(line)) };
}

export function createLogger(opts: LogOptions = {}): Logger {
  const out = opts.destination ?? process.stdout;
  const tty = out === process.stdout && process.stdout.isTTY === true;
  const pretty = opts.format === 'pretty' || (opts.format !== 'json' && tty);
  return pino(
    { level: opts.level ?? 'info', redact: { paths: REDACT, censor: '[redacted]' }, base: undefined },
    pretty ? prettyStream(out, tty) : (out as NodeJS.WritableStream),
  );
}
