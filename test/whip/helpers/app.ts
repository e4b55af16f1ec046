import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type KibitzApp } from '../../../src/app.ts';
import { loadConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { registerWhip } from '../../../src/ingest/whip/routes.ts';
import type { WhipIngest } from '../../../src/ingest/whip/ingest.ts';
import { createLogger } from '../../../src/log.ts';

export interface WhipTestApp {
  app: KibitzApp;
  whip: WhipIngest;
  base: string;
  close(): Promise<void>;
}

/**
 * A real app on free ports with WHIP routes. Until createApp wires WHIP itself, this registers
 * them; the `whip` slice is passed straight to registerWhip (the main schema does not know it yet).
 */
export async function startWhipApp(opts: { streams: { name: string; key: string }[]; whip?: Record<string, unknown>; config?: Record<string, unknown> }): Promise<WhipTestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kibitz-whip-'));
  // Default host candidates (every non-loopback interface): Chromium does not gather loopback, and a
  // socket bound to 127.0.0.1 cannot answer its checks from another address.
  const whipCfg = { connectTimeoutMs: 10_000, disconnectTimeoutMs: 2_000, ...opts.whip };
  const overrides = {
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: 0 },
    dataDir,
    log: { level: 'warn' },
    ingest: { graceMs: 0, restartMinMs: 200, restartMaxMs: 1000, firstFrameTimeoutMs: 15_000 },
    streams: opts.streams,
    ...opts.config,
  };
  // Once the main schema has the `whip:` slice, it goes through the config like any other key.
  let config: Config;
  let inSchema = true;
  try {
    config = loadConfig({ noDefault: true, env: {}, overrides: { ...overrides, whip: whipCfg } });
  } catch {
    inSchema = false;
    config = loadConfig({ noDefault: true, env: {}, overrides });
  }
  const log = createLogger({ level: process.env.KIBITZ_TEST_LOG ?? 'warn', format: 'pretty', destination: process.stderr });
  const app = createApp(config, { log });
  // Until createApp wires WHIP itself (exposing it as `app.whip`), register the routes here.
  const wired = (app as unknown as { whip?: WhipIngest }).whip;
  const whip = wired ?? registerWhip(app.http, { config: { streams: config.streams, whip: inSchema ? (config as unknown as { whip: unknown }).whip : whipCfg }, sessions: app.sessions, log, metrics: app.metrics });
  await app.start();
  return {
    app,
    whip,
    base: `http://127.0.0.1:${app.http.port}`,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** UDP sockets this process holds open (inodes of its fds found in /proc/net/udp{,6}). */
export function udpSocketCount(): number {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[9]) inodes.add(cols[9]);
      }
    } catch {
      /* no IPv6 */
    }
  }
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m && inodes.has(m[1]!)) n++;
    } catch {
      /* fd closed meanwhile */
    }
  }
  return n;
}
