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

/**
 * Write-behind of a durable upload: once this much has been written since
 * the last flush, the file is flushed to the disk (fdatasync, in the
 * background) while the next bytes keep arriving, so the fsync before the
 * commit waits only for the tail instead of the whole file.
 */
export const WRITE_BEHIND_BYTES = 16 * 1024 * 1024;
