import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../src/bus.ts';
import { Metrics } from '../../src/metrics.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { verifySignature } from '../../plugins/webhook/index.ts';
import { FakeBrain, silentLog, waitFor } from './helpers.ts';

interface Hit { body: string; headers: IncomingMessage['headers'] }

async function receiver(respond: (n: number) => number | Promise<number>): Promise<{ url: string; hits: Hit[]; server: Server }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      hits.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.statusCode = await respond(hits.length);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits, server };
}

let host: PluginHost | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await host?.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('webhook plugin', () => {
  it('signs the raw body and delivers after two 500s', async () => {
    const rx = await receiver((n) => (n <= 2 ? 500 : 204));
    servers.push(rx.server);
    const bus = new EventBus();
    host = await startPlugins({
      config: { plugins: { webhook: { urls: [rx.url], secret: 's3cret', backoffMs: 20 } } },
      bus, brain: new FakeBrain(bus), log: silentLog,
    });
    const ev = bus.publish({ stream: 'main', kind: 'commentary', text: 'a goal <b>!</b>', streamTimeMs: 5000 });
    await waitFor(() => rx.hits.length >= 3, 5000, 'third attempt');
    await new Promise((r) => setTimeout(r, 100));
    expect(rx.hits).toHaveLength(3);
    for (const h of rx.hits) {
      expect(verifySignature('s3cret', h.body, h.headers['x-kibitz-signature'] as string)).toBe(true);
      expect(verifySignature('wrong', h.body, h.headers['x-kibitz-signature'] as string)).toBe(false);
      expect(JSON.parse(h.body)).toEqual(ev);
      expect(h.headers['x-kibitz-event-id']).toBe(ev.id);
      expect(Number(h.headers['x-kibitz-timestamp'])).toBeGreaterThan(1_700_000_000);
    }
    expect(rx.hits.map((h) => h.headers['x-kibitz-attempt'])).toEqual(['1', '2', '3']);
    // the plugin's counters reach /metrics through the host
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.addPluginCounters(() => host!.counters());
    const text = await metrics.text();
    expect(text).toContain('kibitz_plugin_counter{plugin="webhook",counter="delivered"} 1');
    expect(text).toContain('kibitz_plugin_counter{plugin="webhook",counter="attempts"} 3');
  });

  it('keeps a bounded queue, dropping the oldest', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const rx = await receiver(async () => {
      await gate;
      return 200;
    });
    servers.push(rx.server);
    const bus = new EventBus();
    host = await startPlugins({
      config: { plugins: { webhook: { urls: [rx.url], queueSize: 3, timeoutMs: 5000 } } },
      bus, brain: new FakeBrain(bus), log: silentLog,
    });
    for (let i = 0; i < 20; i++) bus.publish({ stream: 'main', kind: 'commentary', text: `line ${i}`, streamTimeMs: i });
    await waitFor(() => rx.hits.length >= 1, 2000);
    release();
    await waitFor(() => rx.hits.length >= 4, 2000);
    await new Promise((r) => setTimeout(r, 100));
    // the one in flight, then the newest three
    expect(rx.hits.map((h) => JSON.parse(h.body).text)).toEqual(['line 0', 'line 17', 'line 18', 'line 19']);
    expect(host.counters()).toContainEqual({ plugin: 'webhook', counter: 'droppedOldest', value: 16 });
  });
});
