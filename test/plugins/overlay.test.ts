import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseHub } from '../../src/api/sse.ts';
import { EventBus } from '../../src/bus.ts';
import { startPlugins, type PluginHost } from '../../src/plugins/host.ts';
import { FakeBrain, silentLog } from './helpers.ts';

const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

describe('overlay page in headless Chromium', () => {
  const bus = new EventBus();
  let http: FastifyInstance;
  let host: PluginHost;
  let browser: Browser;
  let sse: SseHub;
  let base = '';

  beforeAll(async () => {
    http = Fastify();
    // The real SSE endpoint's hub, fed by the bus, as in the app.
    sse = new SseHub(bus, 15_000);
    http.get<{ Params: { name: string } }>('/api/streams/:name/events', (req, reply) => sse.handle(req.params.name, req, reply));
    host = await startPlugins({ config: { plugins: { overlay: { fadeAfterMs: 20_000 } } }, bus, brain: new FakeBrain(bus), http, log: silentLog });
    await http.listen({ port: 0, host: '127.0.0.1' });
    const addr = http.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await host?.close();
    sse?.closeAll();
    await http?.close();
  });

  it('serves escaped, self-contained HTML', async () => {
    const res = await http.inject({ method: 'GET', url: '/overlay/%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).not.toContain('<script>alert(1)</script>');
    expect(res.body).not.toMatch(/<(link|img)\b|src=["']http/);
  });

  it('shows events pushed through the bus, escaped, and reconnects by itself', async () => {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/overlay/main`);
    await page.waitForSelector('body[data-connected="1"]', { timeout: 5000 });

    bus.publish({ stream: 'main', kind: 'commentary', text: 'Blue team pushes up the left wing — shot saved!', streamTimeMs: 61_000 });
    bus.publish({ stream: 'other', kind: 'commentary', text: 'not for this overlay', streamTimeMs: 1 });
    bus.publish({ stream: 'main', kind: 'answer', text: 'Number 9 scored, in the 12th minute. <img src=x onerror="window.pwned=1">', question: 'who scored?', user: 'alice', source: 'twitch', streamTimeMs: 62_000 });
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

    // The server drops every SSE connection (restart); the page must come back on its own.
    sse.closeAll();
    await page.waitForFunction(() => !document.body.hasAttribute('data-connected'), undefined, { timeout: 5000 }).catch(() => {});
    await page.waitForSelector('body[data-connected="1"]', { timeout: 10_000 });
    bus.publish({ stream: 'main', kind: 'commentary', text: 'back after the reconnect', streamTimeMs: 70_000 });
    await page.getByText('back after the reconnect').waitFor({ timeout: 5000 });
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);
});
