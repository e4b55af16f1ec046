import { definePlugin, sumCounters, type KibitzEvent } from '../../src/plugins/sdk.ts';
import { Deliverer } from './deliverer.ts';
import { webhookOptions } from './options.ts';

export { sign, verifySignature } from './signature.ts';

export const webhookPlugin = definePlugin({
  name: 'webhook',
  options: webhookOptions,
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
