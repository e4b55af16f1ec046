import { z } from 'zod';

/**
 * Value helpers for every config schema (core, queue, WHIP, plugins): they also accept what
 * environment variables carry (KIBITZ_HTTP_PORT="9000", ..._MODERATOR="true",
 * ..._WEBHOOK_URLS="https://a,https://b"); YAML values pass as they are.
 */
export const num = (inner: z.ZodNumber = z.number()) => z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v), inner);
export const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
export const port = () => num().pipe(z.number().int().min(0).max(65535));
export const list = <T extends z.ZodType>(item: T, minItems = 0) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(item).min(minItems));
