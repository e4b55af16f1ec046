import { z } from 'zod';
import { definePlugin, EVENT_KINDS, formatStreamTime, list, type KibitzEvent } from '../../src/plugins/sdk.ts';

const options = z.object({
  /** Which event kinds to print (all by default). */
  kinds: list(z.enum(EVENT_KINDS)).default([...EVENT_KINDS]),
  /** Only these streams (all when absent). */
  streams: list(z.string()).optional(),
});

export { formatStreamTime };

/** `[main 01:23] commentary: the goalkeeper dives left` */
export function formatLine(ev: KibitzEvent): string {
  const text = ev.text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  let what: string = ev.kind;
  if (ev.kind === 'answer' && ev.user) what = `answer to ${ev.user}${ev.source ? ` (${ev.source})` : ''}`;
  if (ev.kind === 'status' && ev.status) what = `status ${ev.status}`;
  const q = ev.kind === 'answer' && ev.question ? ` [Q: ${ev.question.replace(/\s+/g, ' ')}]` : '';
  return `[${ev.stream} ${formatStreamTime(ev.streamTimeMs)}] ${what}:${q} ${text}`;
}

export const consolePlugin = definePlugin({
  name: 'console',
  options,
  setup(ctx) {
    const kinds = new Set(ctx.options.kinds);
    const streams = ctx.options.streams ? new Set(ctx.options.streams) : undefined;
    ctx.subscribe((ev) => {
      if (!kinds.has(ev.kind) || (streams && !streams.has(ev.stream))) return;
      process.stdout.write(formatLine(ev) + '\n');
    });
    return () => {};
  },
});

export default consolePlugin;
