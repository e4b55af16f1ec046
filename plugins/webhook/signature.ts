import { createHmac, timingSafeEqual } from 'node:crypto';

/** `sha256=<hex>` HMAC of the raw body, sent as X-Kibitz-Signature. */
export function sign(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** For receivers: constant-time check of X-Kibitz-Signature against the raw body. */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(body).digest('hex'));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
