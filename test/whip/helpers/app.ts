import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { KibitzApp } from '../../../src/app.ts';
import type { WhipIngest } from '../../../src/ingest/whip/ingest.ts';
import { startTestApp } from '../../helpers/app.ts';

export interface WhipTestApp {
  app: KibitzApp;
  whip: WhipIngest;
  base: string;
  close(): Promise<void>;
}

/**
 * A real app on free ports (createApp wires the WHIP routes), with short WHIP timeouts. Default
 * host candidates (every non-loopback interface): Chromium does not gather loopback, and a socket
 * bound to 127.0.0.1 cannot answer its checks from another address.
 */
export async function startWhipApp(opts: { streams: { name: string; key: string }[]; whip?: Record<string, unknown>; config?: Record<string, unknown> }): Promise<WhipTestApp> {
  const t = await startTestApp({
    streams: opts.streams,
    config: {
      ingest: { graceMs: 0, restartMinMs: 200, restartMaxMs: 1000, firstFrameTimeoutMs: 15_000 },
      whip: { connectTimeoutMs: 10_000, disconnectTimeoutMs: 2_000, ...opts.whip },
      ...opts.config,
    },
  });
  return { app: t.app, whip: t.app.whip, base: t.httpBase, close: () => t.close() };
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
