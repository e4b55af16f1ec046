import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolkit } from '../helpers/tiny_videollm.ts';

const BIN = path.resolve('bin/kibitz.mjs');

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const occupy = () => new Promise<net.Server>((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => resolve(s));
});
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

describe('kibitz CLI exit codes', () => {
  it('a bad config value: one line naming the key, exit 2', async () => {
    const r = await run(['serve'], { KIBITZ_HTTP_PORT: 'not-a-port', KIBITZ_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'kibitz-cli-')) });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => !/Warning|npm warn|trace-warnings/.test(l))).toEqual([expect.stringMatching(/^config error: http\.port: /)]);
  });

  it('model.temporal on with a package never trained for the drop: one line, exit 2', async () => {
    const r = await run(['serve'], {
      KIBITZ_MODEL_TEMPORAL: 'on', KIBITZ_MODEL_PACKAGE: 'models/kibitz-chess', KIBITZ_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'kibitz-cli-')),
      KIBITZ_RTMP_HOST: '127.0.0.1', KIBITZ_HTTP_HOST: '127.0.0.1', KIBITZ_RTMP_PORT: '0', KIBITZ_HTTP_PORT: '0', KIBITZ_LOG_LEVEL: 'warn',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^config error: model\.temporal: "on", but package kibitz-chess has no temporal block/m);
  });

  it.each(['RTMP', 'HTTP'])('%s port already in use: clear error naming the port, exit 1', async (which) => {
    const blocker = await occupy();
    const port = portOf(blocker);
    try {
      const env: Record<string, string> = {
        KIBITZ_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'kibitz-cli-')),
        KIBITZ_RTMP_HOST: '127.0.0.1', KIBITZ_HTTP_HOST: '127.0.0.1',
        KIBITZ_RTMP_PORT: which === 'RTMP' ? String(port) : '0',
        KIBITZ_HTTP_PORT: which === 'HTTP' ? String(port) : '0',
        KIBITZ_LOG_LEVEL: 'warn',
      };
      const r = await run(['serve'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${which} port ${port} is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('an unknown command prints usage and exits 2', async () => {
    const r = await run(['frobnicate'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"[\s\S]*usage: kibitz/);
  });

  it('import: a checkpoint folder it does not understand is refused with one line naming file and key, exit 2', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-import-'));
    toolkit(['videollm-tiny', '--out', dir]);
    const cfg = path.join(dir, 'videollm-online-8b-v1plus', 'adapter_config.json');
    writeFileSync(cfg, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')), use_dora: true }));
    const r = await run(['import', 'videollm-online', dir, '--out', path.join(dir, 'pkg')], {});
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').filter((l) => !/Warning|trace-warnings/.test(l))).toEqual([expect.stringMatching(/adapter_config\.json: use_dora is true: DoRA adapters are not supported/)]);
    const u = await run(['import', 'llava', dir], {});
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/import needs a model family: videollm-online \(got "llava"\)/);
  });
});
