import { SingleBar } from 'cli-progress';
import type { ProgressListener, TransferProgress } from '../client/index.js';
import { formatBytes } from '../units/bytes.js';

/** A progress display: `update` as bytes move, `stop` once at the end. */
export interface ProgressDisplay {
  readonly update: ProgressListener;
  stop(final?: TransferProgress): void;
}

const MiB = 1024 * 1024;

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

/** How long it took: tenths of a second under 10 s ("in 0.4s", not "in 0s"). */
function formatElapsed(seconds: number): string {
  return seconds < 9.95 ? `${seconds.toFixed(1)}s` : formatSeconds(seconds);
}

/** Rate over this run's bytes only (a resumed prefix is not "transferred"). */
function rateOf(p: TransferProgress, startedAt: number): number {
  const seconds = (Date.now() - startedAt) / 1000;
  return seconds > 0 ? (p.done - p.resumedFrom) / seconds : 0;
}

/**
 * Shows bytes, %, rate and ETA (docs/protocol.md §3.3): a live bar when stdout is a terminal,
 * otherwise a plain line every second, so logs and pipes stay readable.
 */
export function createProgress(label: string, stream: NodeJS.WriteStream = process.stdout): ProgressDisplay {
  const startedAt = Date.now();
  // The caller's final figures do not repeat the digest the server chose: keep showing it.
  let digest: TransferProgress['digest'];
  const withDigest = (p: TransferProgress): TransferProgress => {
    if (p.digest !== undefined) digest = p.digest;
    return p.digest === undefined && digest !== undefined ? { ...p, digest } : p;
  };
  // `timing` is "ETA 12s" while bytes move and "in 3s" once all are there. (Not
  // named `eta`: that is cli-progress's own token, a bare number of seconds.)
  const describe = (given: TransferProgress): { rate: string; timing: string; doneText: string; totalText: string; verify: string } => {
    const p = withDigest(given);
    const rate = rateOf(p, startedAt);
    return {
      // Which digest verifies it, once the server has chosen (docs/protocol.md §3.3).
      verify: p.digest === undefined ? '' : ` | ${p.digest}`,
      rate: `${(rate / MiB).toFixed(1)} MiB/s`,
      timing: p.done >= p.total ? `in ${formatElapsed((Date.now() - startedAt) / 1000)}` : `ETA ${formatSeconds(rate > 0 ? (p.total - p.done) / rate : Number.POSITIVE_INFINITY)}`,
      doneText: formatBytes(p.done),
      totalText: formatBytes(p.total),
    };
  };

  if (stream.isTTY === true) {
    const bar = new SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% | {doneText} / {totalText} | {rate} | {timing}{verify}`,
      hideCursor: true,
      barsize: 30,
      fps: 10,
    });
    let started = false;
    return {
      update: (p) => {
        if (!started) {
          bar.start(Math.max(p.total, 1), p.done, describe(p));
          started = true;
        }
        bar.update(p.done, describe(p));
      },
      stop: (final) => {
        if (final !== undefined && started) bar.update(Math.max(final.total, 1), describe(final));
        if (started) bar.stop();
      },
    };
  }

  let lastPrint = 0;
  const print = (given: TransferProgress): void => {
    const d = describe(given);
    const p = withDigest(given);
    const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
    const verify = p.digest === undefined ? '' : ` [${p.digest}]`;
    stream.write(`${label}: ${d.doneText} / ${d.totalText} (${percent}%) ${d.rate} ${d.timing}${verify}\n`);
  };
  return {
    update: (p) => {
      const now = Date.now();
      if (now - lastPrint >= 1000) {
        lastPrint = now;
        print(p);
      }
    },
    stop: (final) => {
      if (final !== undefined) print(final);
    },
  };
}
