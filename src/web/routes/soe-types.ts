/**
 * The shapes of `GET /api/soe` (docs/http-api.md "Sequence of events"),
 * apart from the route so that the page (hmi/) can import them without the
 * server's code.
 */
import type { Quality } from '../../protocol/scada.js';

/** What the sequence of events lists (docs/http-api.md "Sequence of events"). */
export const SOE_KINDS = ['change', 'quality', 'alarm', 'command'] as const;
export type SoeKind = (typeof SOE_KINDS)[number];

/** One line of the sequence of events. */
export interface SoeEntry {
  /** Its place in the list, `<at>.<rank>.<id>`: pass it as `before` (older) or `after` (newer). */
  readonly cursor: string;
  readonly at: number;
  readonly kind: SoeKind;
  /** The point (or `device:<name>` for a device alarm). */
  readonly point: string;
  readonly value?: number | null;
  readonly quality?: Quality;
  readonly sourceTime?: number;
  readonly alarm?: { readonly id: number; readonly kind: string; readonly severity: string; readonly message: string; readonly action: 'raised' | 'cleared' | 'acked'; readonly by: string | null };
  readonly command?: {
    /** The user, or `iec104:<address>` for an IEC 104 master. */
    readonly by: string;
    /** The front end it came through: web, native, iec104. */
    readonly via: string;
    readonly address: string | null;
    readonly value: number | null;
    readonly outcome: 'confirmed' | 'failed' | 'refused' | 'pending';
    readonly reason: string | null;
    readonly tookMs: number | null;
  };
}

export interface SoePage {
  readonly entries: SoeEntry[];
  /** Pass as `before` for the next (older) page; null at the start of the range. */
  readonly next: string | null;
}
