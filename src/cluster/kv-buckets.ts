import type { KV, KvOptions } from '@nats-io/kv';
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
