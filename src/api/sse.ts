import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../bus.ts';

/**
 * Server-Sent Events for one stream: every bus event of that stream as a `data:` line (with
 * `id:`), a comment line as heartbeat so proxies keep the connection, clean-up on disconnect.
 */
export class SseHub {
  private readonly clients = new Set<() => void>();

  constructor(private readonly bus: EventBus, private readonly heartbeatMs: number) {}

  get size(): number {
    return this.clients.size;
  }

  handle(stream: string, request: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 3000\n: kibitz events for ${stream}\n\n`);
    const unsubscribe = this.bus.subscribe((ev) => {
      res.write(`id: ${ev.id}\ndata: ${JSON.stringify(ev)}\n\n`);
    }, { stream });
    const heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), this.heartbeatMs);
    let done = false;
    const cleanup = () => {
      if (done) return;
      done = true;
      clearInterval(heartbeat);
      unsubscribe();
      this.clients.delete(end);
    };
    const end = () => {
      cleanup();
      res.end();
    };
    this.clients.add(end);
    request.raw.on('close', cleanup);
    res.on('close', cleanup);
    res.on('error', cleanup);
  }

  /** Ends every open stream (shutdown). */
  closeAll(): void {
    for (const end of [...this.clients]) end();
  }
}
