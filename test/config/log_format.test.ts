import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';

function capture(format: 'pretty' | 'json') {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format, destination: { write: (s: string) => lines.push(s) } });
  log.info({ stream: 'main', token: 'hunter2' }, 'stream started');
  return lines.join('');
}

describe('log format', () => {
  it('pretty: one readable line (pino-pretty) with the level, message and fields; secrets redacted', () => {
    const out = capture('pretty');
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: stream started/);
    expect(out).toContain('"stream":"main"');
    expect(out).not.toContain('hunter2');
    expect(out.trim().split('\n')).toHaveLength(1);
  });

  it('json: one JSON object a log shipper can parse', () => {
    const rec = JSON.parse(capture('json')) as Record<string, unknown>;
    expect(rec).toMatchObject({ level: 30, msg: 'stream started', stream: 'main', token: '[redacted]' });
  });

  it('--log-format with an unknown value is a usage error (exit 2) that lists the choices', () => {
    const r = spawnSync(process.execPath, [path.resolve('bin/kibitz.mjs'), 'serve', '--log-format', 'xml'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--log-format must be one of auto, pretty, json (got "xml")');
  });
});
