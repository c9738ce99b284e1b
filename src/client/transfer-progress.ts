import type { DigestName, Digests } from '../integrity/digests.js';

/** Progress of one transfer, reported as bytes move (the CLI's progress bar). */
export interface TransferProgress {
  /** Bytes of the file now at the destination, including a resumed prefix. */
  readonly done: number;
  /** Length of the whole file. */
  readonly total: number;
  /** Where this run started (bytes already there from an earlier attempt). */
  readonly resumedFrom: number;
  /** The digest that verifies the transfer, once the server has chosen it (docs/protocol.md §3.3). */
  readonly digest?: DigestName | undefined;
}

export type ProgressListener = (progress: TransferProgress) => void;

/** Result of a finished, verified transfer. */
export interface TransferResult {
  readonly path: string;
  readonly length: number;
  /** The digest that verified it (the server's choice from the offer). */
  readonly digest: DigestName;
  /** Every digest computed over the whole file. */
  readonly digests: Digests;
  /** The SHA-256, when it was the digest (the library's default) or computed too. */
  readonly sha256?: string | undefined;
  readonly md5?: string | undefined;
  readonly resumedFrom: number;
}
