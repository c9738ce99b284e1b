import type { KV, KvOptions, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { ClusterLink } from './cluster-link.js';

/**
 * Opens a KV bucket, creating it when missing (docs/cluster.md, "Buckets").
 * It asks for `replicas` copies; a NATS system with fewer servers than
 * that refuses, and the bucket is then made with one copy (logged: it does
 * not survive the loss of its server).
 */
export async function openBucket(link: ClusterLink, name: string, options: Partial<KvOptions> & { replicas: number }, logger: Logger): Promise<KV> {
  try {
    return await link.kvm.create(name, options);
  } catch (err) {
    if (options.replicas > 1 && /insufficient|no suitable peers|replicas/iu.test(String(err))) {
      logger.warn({ event: 'cluster.bucket_one_replica', bucket: name, asked: options.replicas, err }, 'fewer NATS servers than cluster.replicas: the bucket keeps one copy');
      return link.kvm.create(name, { ...options, replicas: 1 });
    }
    // Made earlier with other limits: use it as it is.
    if (/already in use|different configuration/iu.test(String(err))) return link.kvm.open(name);
    throw err;
  }
}

/** Stream names and subjects need tokens without dots; keys of any text are hex-encoded. */
export const keyOf = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
export const textOf = (key: string): string => Buffer.from(key, 'hex').toString('utf8');

/** A watch that stopped (NATS lost, its server restarted) starts again after this long. */
const WATCH_RETRY_MS = 1_000;

/**
 * Follows every change to `kv` after `revision`, until the returned function
 * is called: each entry goes to `onEntry` once, in order. A watch that ends
 * or fails is started again after a second from the last revision seen, so
 * no change is skipped and none is seen twice; `onFailure` hears why.
 */
export function followBucket(kv: KV, revision: number, onEntry: (entry: KvWatchEntry) => void, onFailure: (err: unknown) => void): () => void {
  let seen = revision;
  let stopped = false;
  let stopWatch: (() => void) | null = null;
  void (async () => {
    while (!stopped) {
      try {
        const watch = await kv.watch({ resumeFromRevision: seen + 1 });
        stopWatch = () => watch.stop();
        if (stopped) watch.stop();
        for await (const entry of watch) {
          seen = Math.max(seen, entry.revision);
          onEntry(entry);
        }
      } catch (err) {
        if (stopped) return;
        onFailure(err);
      }
      if (stopped) return;
      await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
    }
  })();
  return () => {
    stopped = true;
    stopWatch?.();
  };
}
