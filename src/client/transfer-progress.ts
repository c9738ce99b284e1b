/** Progress of one transfer, reported as bytes move (the CLI's progress bar). */
export interface TransferProgress {
  /** Bytes of the file now at the destination, including a resumed prefix. */
  readonly done: number;
  /** Length of the whole file. */
  readonly total: number;
  /** Where this run started (bytes already there from an earlier attempt). */
  readonly resumedFrom: number;
}

export type ProgressListener = (progress: TransferProgress) => void;

/** Result of a finished, verified transfer. */
export interface TransferResult {
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
  readonly md5?: string | undefined;
  readonly resumedFrom: number;
}
