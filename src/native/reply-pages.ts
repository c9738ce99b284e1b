/**
 * Room for the items of one reply: a frame header is at most 64 KiB
 * (docs/protocol.md §1), and the rest of the reply (cmd, id, cursor) needs a little.
 */
export const PAGE_BYTES = 60_000;

export interface Page<T> {
  readonly items: T[];
  /** Index of the first item that did not fit; null when all did. */
  readonly next: number | null;
}

/**
 * The items from `offset` that fit one reply, measured as JSON. Listings
 * that can grow past a frame (20,000 points, 10,000 history samples) are
 * answered a page at a time; the client asks again from `next`.
 */
export function pageOf<T>(items: readonly T[], offset = 0, maxBytes = PAGE_BYTES): Page<T> {
  const out: T[] = [];
  let used = 0;
  for (let i = offset; i < items.length; i += 1) {
    const size = Buffer.byteLength(JSON.stringify(items[i]), 'utf8') + 1;
    if (used + size > maxBytes) {
      if (out.length === 0) throw new RangeError(`item ${i} alone is ${size} bytes, more than a reply can carry`);
      return { items: out, next: i };
    }
    used += size;
    out.push(items[i]!);
  }
  return { items: out, next: null };
}
