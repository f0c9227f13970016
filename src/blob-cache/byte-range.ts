/**
 * The Range header of a blob GET (RFC 9110 §14), decided against the blob's size, for answers
 * the gateway gives from its own copy. One range of bytes is served as 206; anything else a
 * server may answer whole (multiple ranges, other units, a malformed header: §14.2 lets it
 * ignore what it does not support); a range that starts beyond the end is 416.
 */
export type RangeDecision =
  | { readonly kind: 'whole' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d{1,16})?-(\d{1,16})?$/;

/**
 * @param ifRange the If-Range header: a range is honoured only when it names this blob's entity
 *   tag (its digest, quoted), since a client resuming from another version wants it whole.
 */
export function decideRange(range: string | undefined, ifRange: string | undefined, size: number, etag: string): RangeDecision {
  if (range === undefined) return { kind: 'whole' };
  if (ifRange !== undefined && ifRange.trim() !== etag) return { kind: 'whole' };
  const match = SINGLE_RANGE.exec(range.trim());
  if (match === null) return { kind: 'whole' };
  const [, first, last] = match;
  if (first === undefined && last === undefined) return { kind: 'whole' };
  if (first === undefined) {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  if (last !== undefined && Number(last) < start) return { kind: 'whole' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: last === undefined ? size - 1 : Math.min(Number(last), size - 1) };
}
