import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type AppOptions, type KibitzApp } from '../../src/app.ts';
import type { Brain } from '../../src/brain.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { LateBrain } from '../../src/model_host/late_brain.ts';
import type { HostParts, ModelHost } from '../../src/model_host/port.ts';

let n = 0;
/** A stream key unique per test (node-media-server keeps stream paths in one process-wide map). */
export function testKey(name = 'k'): string {
  return `${name}-${process.pid}-${Date.now().toString(36)}-${++n}`;
}

export interface TestApp {
  app: KibitzApp;
  /** rtmp://127.0.0.1:PORT/live */
  rtmpBase: string;
  httpBase: string;
  url(key: string): string;
  close(): Promise<void>;
}

/**
 * A real app on free ports (port 0), with a temp data dir, quiet logs (KIBITZ_TEST_LOG=debug
 * to see them) and short timeouts. `streams`: [{ name, key }].
 */
export async function startTestApp(opts: { streams: { name: string; key: string }[]; config?: Record<string, unknown>; app?: AppOptions; dataDir?: string }): Promise<TestApp> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'kibitz-test-'));
  const config = loadConfig({
    noDefault: true,
    env: {},
    overrides: {
      http: { host: '127.0.0.1', port: 0 },
      rtmp: { host: '127.0.0.1', port: 0 },
      dataDir,
      log: { level: 'warn' },
      ingest: { graceMs: 1500, restartMinMs: 200, restartMaxMs: 1000, firstFrameTimeoutMs: 8000 },
      streams: opts.streams,
      ...opts.config,
    },
  });
  const log = createLogger({ level: process.env.KIBITZ_TEST_LOG ?? 'warn', format: 'pretty', destination: process.stderr });
  const app = createApp(config, { log, ...opts.app });
  await app.start();
  const rtmpBase = `rtmp://127.0.0.1:${app.rtmp.port}/live`;
  return {
    app,
    rtmpBase,
    httpBase: `http://127.0.0.1:${app.http.port}`,
    url: (key) => `${rtmpBase}/${key}`,
    async close() {
      await app.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A model host whose brain is made by the test from the app's parts when the app starts (a
 * scripted Brain, or an engine on a model the test loaded); it takes no frames.
 */
export function brainHost(make: (parts: HostParts) => Brain): ModelHost {
  const brain = new LateBrain('the test brain is not started');
  return {
    brain,
    async start(parts) {
      brain.serve(make(parts));
    },
    consume() {},
    streamInfo: () => undefined,
    async close() {
      brain.serve(undefined);
    },
  };
}
