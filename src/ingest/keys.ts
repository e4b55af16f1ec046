import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Finds the stream whose key equals `candidate`, in time independent of where (or whether)
 * they differ: hashing gives equal-length inputs for timingSafeEqual, and every key is
 * compared (no early exit). Used by every ingest (RTMP, WHIP).
 */
export function matchStreamKey<T extends { key: string }>(streams: readonly T[], candidate: string): T | undefined {
  const c = digest(candidate);
  let found: T | undefined;
  for (const s of streams) {
    if (timingSafeEqual(digest(s.key), c) && found === undefined) found = s;
  }
  return found;
}
