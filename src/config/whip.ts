import { z } from 'zod';
import { bool, list, num } from '../config_values.ts';

/**
 * The `whip:` slice of the kibitz config, embedded as-is by the config schema (schema.ts); it
 * lives with the config so the schema need not reach into the ingest side. `parseWhipConfig()`
 * validates the slice alone so a bad value is still reported with its key.
 */
const ipLiteral = z.union([z.ipv4(), z.ipv6()]);
const nullIfEmpty = (v: unknown) => (v === '' || v === 'null' ? null : v);

export const whipConfigSchema = z
  .object({
    /** Serve POST /whip/:streamKey. */
    enabled: bool().default(true),
    ice: z
      .object({
        /**
         * Addresses to gather host candidates on. Empty: every non-loopback interface (IPv4,
         * plus IPv6 when `ipv6`). Loopback is never used unless listed here.
         */
        hostAddresses: list(ipLiteral).default([]),
        ipv6: bool().default(false),
        /**
         * ICE-lite (RFC 8445 §2.5): kibitz only answers the publisher's connectivity checks and
         * sends none of its own. A WHIP server has reachable addresses, so this is enough, and
         * it keeps a busy server from failing ICE because its own check timers ran late.
         */
        lite: bool().default(true),
        /** UDP ports for ICE, inclusive; one port per publisher (bundle). Open these on a firewall. */
        portRange: z
          .preprocess(nullIfEmpty, z
            .object({ min: num().pipe(z.number().int().min(1024).max(65535)), max: num().pipe(z.number().int().min(1024).max(65535)) })
            .refine((r) => r.max > r.min, { message: 'max must be greater than min' })
            .nullable())
          .default(null),
        /**
         * Public address to announce behind NAT (1:1 / port-forwarded): a candidate with this
         * address and the same port is added to every answer, next to the host candidates.
         */
        announcedIp: z.preprocess(nullIfEmpty, ipLiteral.nullable()).default(null),
      })
      .default({ hostAddresses: [], ipv6: false, lite: true, portRange: null, announcedIp: null }),
    /** ICE + DTLS must be up this long after the answer, or the publish is dropped. */
    connectTimeoutMs: num().pipe(z.number().int().min(1000).max(120_000)).default(15_000),
    /** ICE `disconnected` this long (consent lost, publisher vanished) ends the publish. */
    disconnectTimeoutMs: num().pipe(z.number().int().min(500).max(120_000)).default(5_000),
    /** Simultaneous WHIP peer connections, all streams together; more gets 503. */
    maxPublishers: num().pipe(z.number().int().min(1).max(1000)).default(16),
    /** Largest accepted SDP offer; larger bodies get 413. */
    maxOfferBytes: num().pipe(z.number().int().min(1024).max(1_048_576)).default(64 * 1024),
    /** How long an out-of-order RTP packet is waited for before the gap is skipped (RTP time). */
    jitterBufferMs: num().pipe(z.number().int().min(0).max(2000)).default(150),
    /** While waiting for a keyframe, ask for one (PLI) this often. */
    pliIntervalMs: num().pipe(z.number().int().min(100).max(10_000)).default(1000),
    /** Access-Control-Allow-Origin for browser publishers. */
    corsOrigin: z.string().default('*'),
  })
  .default({
    enabled: true,
    ice: { hostAddresses: [], ipv6: false, lite: true, portRange: null, announcedIp: null },
    connectTimeoutMs: 15_000,
    disconnectTimeoutMs: 5_000,
    maxPublishers: 16,
    maxOfferBytes: 64 * 1024,
    jitterBufferMs: 150,
    pliIntervalMs: 1000,
    corsOrigin: '*',
  });

export type WhipConfig = z.output<typeof whipConfigSchema>;

export const DEFAULT_WHIP_CONFIG: WhipConfig = whipConfigSchema.parse(undefined);

/** Validates a raw `whip:` value; throws an Error naming the first bad key (`whip.ice.portRange.max: ...`). */
export function parseWhipConfig(raw: unknown): WhipConfig {
  const r = whipConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const key = ['whip', ...issue.path.map(String)].join('.');
  throw new Error(`${key}: ${issue.message}`);
}
