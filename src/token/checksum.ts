/** Tokens are stored and looked up by their SHA-256 checksum only; the token itself is never kept. */
import { createHash, timingSafeEqual } from 'node:crypto';

export function tokenChecksum(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Constant-time comparison of two secrets of any length (compares their digests). */
export function secretsEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB);
}
