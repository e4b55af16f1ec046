import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseHub } from '../../src/api/sse.ts';
import { createApp, type KibitzApp } from '../../src/app.ts';
import { EventBus } from '../../src/bus.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { verifySignature } from '../../plugins/webhook/index.ts';
import { FakeBrain, silentLog, waitFor } from './helpers.ts';

const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 30_000);
afterAll(() => browser?.close());

/**
 * The real app (config loader with env, HTTP server, SSE endpoint) with the plugin host wired in
 * the way src/cli.ts should: startPlugins before app.start(), since routes must exist before listen.
 */
describe('overlay served by the real app, events through the pipeline', () => {
  let app: KibitzApp;
  let host: PluginHost;
  let receiver: Server;
  const hooks: { body: string; sig: string }[] = [];
  let dataDir = '';

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hooks.push({ body, sig: String(req.headers['x-kibitz-signature']) });
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    dataDir = mkdtempSync(join(tmpdir(), 'kibitz-overlay-'));
    const config = loadConfig({
      noDefault: true,
      // A list and a secret through the environment, as scripts set them.
      env: {
        KIBITZ_PLUGINS_WEBHOOK_URLS: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        KIBITZ_PLUGINS_WEBHOOK_SECRET: 'env-secret',
      },
      overrides: {
        http: { host: '127.0.0.1', port: 0 }, rtmp: { host: '127.0.0.1', port: 0 }, dataDir, log: { level: 'warn' },
        streams: [{ name: 'main', key: 'overlaytestkey' }],
        plugins: { overlay: { fadeAfterMs: 20_000 }, webhook: {} },
      },
    });
    app = createApp(config, { log: silentLog });
    host = await startPlugins({ config: app.config, bus: app.bus, gate: app.questions, http: app.http, log: app.log.child({ component: 'plugins' }) });
    app.onClose(() => host.close());
    await app.start();
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    receiver?.closeAllConnections();
    receiver?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves escaped, self-contained HTML', async () => {
    const res = await app.http.inject({ method: 'GET', url: '/overlay/%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).not.toMatch(/<(link|img)\b|src=["']http/);
  });

  it('shows commentary and answers, escaped, on a transparent page at 1080p and 720p', async () => {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${app.http.port}/overlay/main`);
    await page.waitForSelector('body[data-connected="1"]', { timeout: 5000 });

    app.bus.publish({ stream: 'main', kind: 'commentary', text: 'Blue team pushes up the left wing — shot saved!', streamTimeMs: 61_000 });
    app.bus.publish({ stream: 'other', kind: 'commentary', text: 'not for this overlay', streamTimeMs: 1 });
    app.bus.publish({ stream: 'main', kind: 'answer', text: 'Number 9 scored, in the 12th minute. <img src=x onerror="window.pwned=1">', question: 'who scored?', user: 'alice', source: 'twitch', streamTimeMs: 62_000 });
    await page.getByText('Blue team pushes up the left wing').waitFor({ timeout: 5000 });
    await page.getByText('Number 9 scored').waitFor({ timeout: 5000 });
    expect(await page.locator('#feed img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.getByText('not for this overlay').count()).toBe(0);
    expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgba(0, 0, 0, 0)');
    const fontPx = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('.item')!).fontSize));
    expect(fontPx).toBeGreaterThanOrEqual(36); // readable at 1080p

    await page.screenshot({ path: '/tmp/kibitz-overlay-1080.png', omitBackground: true });
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.evaluate(() => (document.documentElement.style.background = '#2d6a4f')); // a stand-in for the video, for the eye
    await page.screenshot({ path: '/tmp/kibitz-overlay-720.png' });
    expect(await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('.item')!).fontSize))).toBeGreaterThanOrEqual(24);
    expect(errors).toEqual([]);
    await page.close();

    // The same events reached the webhook configured through the environment, signed.
    await waitFor(() => hooks.length >= 3, 5000, 'webhook deliveries');
    expect(hooks.every((h) => verifySignature('env-secret', h.body, h.sig))).toBe(true);
  }, 30_000);
});

describe('overlay reconnects when the event stream is cut', () => {
  const bus = new EventBus();
  let http: FastifyInstance;
  let host: PluginHost;
  const sse = new SseHub(bus, 15_000);

  beforeAll(async () => {
    http = Fastify();
    http.get<{ Params: { name: string } }>('/api/streams/:name/events', (req, reply) => sse.handle(req.params.name, req, reply));
    // What GET /api/streams says of a stream whose view the search moved (src/stream/session.ts toJSON).
    http.get('/api/streams', async () => ({ streams: [{ name: 'main', state: 'live', view: { view: [0.426758, 0.0614583, 0.45957, 0.917014], from: 'search', state: 'found', score: 0.672, searches: 2, searchMs: 1119, foundAtMs: 5000 } }] }));
    host = await startPlugins({ config: { plugins: { overlay: {} } }, bus, brain: new FakeBrain(bus), http, log: silentLog });
    await http.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await host?.close();
    sse.closeAll();
    await http?.close();
  });

  it('comes back on its own and shows what follows', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(`http://127.0.0.1:${(http.server.address() as AddressInfo).port}/overlay/main`);
    await page.waitForSelector('body[data-connected="1"]', { timeout: 5000 });
    sse.closeAll(); // every SSE connection dropped, as in a server restart
    await page.waitForSelector('body:not([data-connected])', { timeout: 5000 });
    await page.waitForSelector('body[data-connected="1"]', { timeout: 10_000 });
    bus.publish({ stream: 'main', kind: 'commentary', text: 'back after the reconnect', streamTimeMs: 70_000 });
    await page.getByText('back after the reconnect').waitFor({ timeout: 5000 });
    await page.close();
  }, 20_000);

  it('?debug=1 shows where the model looks and how the view got there', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(`http://127.0.0.1:${(http.server.address() as AddressInfo).port}/overlay/main?debug=1`);
    const box = page.locator('#debug');
    await box.getByText('from search, found').waitFor({ timeout: 5000 });
    const text = await box.textContent();
    expect(text).toContain('view [0.4268, 0.0615, 0.4596, 0.9170]');
    expect(text).toContain('match 0.672');
    expect(text).toContain('found at 5.0 s');
    // without it the page shows the feed alone
    await page.goto(`http://127.0.0.1:${(http.server.address() as AddressInfo).port}/overlay/main`);
    expect(await page.locator('#debug').isVisible()).toBe(false);
    await page.close();
  }, 20_000);
});
