/**
 * Stream buffer sizes, in one place, because they set the memory a transfer
 * may hold (STYLE §2: bound everything that accumulates). A transfer passes
 * through about four stages (socket → decoder → body → hash tap → file, or
 * the reverse), each holding at most about one chunk, so a transfer holds
 * roughly 4 × CHUNK_BYTES; 1,000 concurrent transfers ≈ 256 MiB at 64 KiB.
 */
export const CHUNK_BYTES = 64 * 1024;
