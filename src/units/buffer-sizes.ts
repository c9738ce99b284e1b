/**
 * Stream buffer sizes, in one place, because they set the memory a transfer
 * may hold (docs/architecture.md: bound everything that accumulates). A transfer passes
 * through about four stages (socket → decoder → body → hash tap → file, or
 * the reverse), each holding at most about one chunk, so a transfer holds
 * roughly 4 × CHUNK_BYTES; 1,000 concurrent transfers ≈ 256 MiB at 64 KiB.
 */
export const CHUNK_BYTES = 64 * 1024;

/**
 * File I/O depth: downloads read this much per call and uploads let this much
 * queue for the disk while the socket keeps reading, so a transfer is not a
 * serial round trip per network chunk. Memory stays bounded by the budget of
 * active transfers (files.maxActiveTransfers).
 */
export const FILE_IO_BYTES = 1024 * 1024;
