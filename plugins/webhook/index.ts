import { z } from 'zod';
import { bool, list, num } from '../../src/plugins/zod.ts';
import type { KibitzEvent } from '../../src/events.ts';
import { EVENT_KINDS } from '../../src/plugins/routes.ts';
import { definePlugin } from '../../src/plugins/types.ts';
import { Deliverer } from './deliverer.ts';
import { sumCounters } from '../../src/plugins/counters.ts';

const options = z.object({
  /** Receivers; each event is POSTed to every one as JSON. */
  urls: list(z.url({ protocol: /^https?$/ }), 1),
  /** HMAC-SHA256 key for X-Kibitz-Signature (sha256=<hex> of the raw body). Env: KIBITZ_PLUGINS_WEBHOOK_SECRET. */
  secret: z.string().min(1).optional(),
  kinds: list(z.enum(EVENT_KINDS)).default([...EVENT_KINDS]),
  streams: list(z.string()).optional(),
  /** Per attempt. */
  timeoutMs: num(z.number().int().min(100)).default(5_000),
  /** Attempts per event (first try included) before it is dropped and counted. */
  maxAttempts: num(z.number().int().min(1).max(20)).default(5),
  backoffMs: num(z.number().int().min(0)).default(500),
  maxBackoffMs: num(z.number().int().min(0)).default(30_000),
  /** Events waiting per URL; when full the oldest is dropped and counted. */
  queueSize: num(z.number().int().min(1)).default(1_000),
});
export type WebhookOptions = z.infer<typeof options>;

export { sign, verifySignature } from './signature.ts';

export const webhookPlugin = definePlugin({
  name: 'webhook',
  options,
  setup(ctx) {
    const o = ctx.options;
    const kinds = new Set(o.kinds);
    const streams = o.streams ? new Set(o.streams) : undefined;
    const deliverers = o.urls.map((url) => new Deliverer(url, o, ctx.log.child({ url }), ctx.signal));
    ctx.counters(() => sumCounters(deliverers.map((d) => d.stats), { delivered: 0, failed: 0, droppedOldest: 0, attempts: 0 }));
    ctx.subscribe((ev: KibitzEvent) => {
      if (!kinds.has(ev.kind) || (streams && !streams.has(ev.stream))) return;
      const body = JSON.stringify(ev);
      for (const d of deliverers) d.enqueue(ev.id, body);
    });
    return async () => {
      await Promise.all(deliverers.map((d) => d.close()));
    };
  },
});

export default webhookPlugin;
