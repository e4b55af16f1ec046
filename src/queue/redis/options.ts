import { hostname } from 'node:os';
import { redisQueueSchema, type RedisQueueOptions } from '../../config/queue.ts';
import { ConfigError } from '../../config_error.ts';
import type { Config } from '../../config/schema.ts';

export { redisQueueSchema, type RedisQueueOptions } from '../../config/queue.ts';

/** Validates `config.queue` for the Redis path; throws a ConfigError naming the key (the CLI exits 2). */
export function redisQueueOptions(config: Pick<Config, 'queue'>, overrides: Partial<RedisQueueOptions> = {}): RedisQueueOptions {
  const r = redisQueueSchema.safeParse({ ...config.queue, ...overrides });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new ConfigError(`queue.${i.path.join('.')}`, i.message);
  }
  return r.data;
}

export function defaultNodeId(role: 'ingest' | 'worker'): string {
  return `${role}-${hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32)}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
