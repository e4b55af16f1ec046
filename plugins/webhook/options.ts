import { z } from 'zod';
import { EVENT_KINDS, list, num } from '../../src/plugins/sdk.ts';

export const webhookOptions = z.object({
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
export type WebhookOptions = z.infer<typeof webhookOptions>;
