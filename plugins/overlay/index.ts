import { z } from 'zod';
import { definePlugin, EVENT_KINDS, list, num } from '../../src/plugins/sdk.ts';
import { overlayHtml } from './page.ts';

const options = z.object({
  /** Commentary fades after this many ms (answers and summaries stay twice as long). */
  fadeAfterMs: num(z.number().int().min(1000)).default(12_000),
  /** Items on screen at once. */
  maxItems: num(z.number().int().min(1).max(20)).default(4),
  kinds: list(z.enum(EVENT_KINDS)).default(['commentary', 'answer', 'summary']),
  /** Where the page reads events; `:name` is replaced by the stream name. */
  eventsPath: z.string().default('/api/streams/:name/events'),
});

export const overlayPlugin = definePlugin({
  name: 'overlay',
  options,
  setup(ctx) {
    const o = ctx.options;
    ctx.http.get('/overlay/:name', async (req, reply) => {
      const { name } = req.params as { name: string };
      const html = overlayHtml({
        stream: name,
        eventsUrl: o.eventsPath.replace(':name', encodeURIComponent(name)),
        streamsUrl: '/api/streams',
        fadeAfterMs: o.fadeAfterMs,
        maxItems: o.maxItems,
        kinds: o.kinds,
      });
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'")
        .send(html);
    });
    return () => {};
  },
});

export default overlayPlugin;
