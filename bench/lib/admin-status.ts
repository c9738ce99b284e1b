import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdminClient } from '../../dist/admin/admin-client.js';

/** The `scada` part of the server's status (what `gridlink admin status --json` prints), with its bus counters. */
export interface ScadaStatus {
  readonly devicesOnline: number;
  readonly readings: number;
  readonly events: number;
  readonly activeAlarms: number;
  /** IEC 104 information objects a master received that map to no point (gridlink as a master). */
  readonly unknownObjects?: number;
  /** The server's bus counters (status.bus), for published and dropped messages. */
  readonly bus: { readonly published: number; readonly dropped: number };
  /** How late its event loop ran (status.eventLoop): over the last full minute, or since the start before one has passed. */
  readonly eventLoop: { readonly windowSeconds: number; readonly p99Ms: number; readonly maxMs: number } | null;
}

export async function scadaStatus(admin: AdminClient): Promise<ScadaStatus> {
  const status = await admin.status();
  const scada = status['scada'] as Omit<ScadaStatus, 'bus'> | null | undefined;
  if (scada === null || scada === undefined) throw new Error('the server reports no scada status (is the data plane enabled?)');
  return { ...scada, bus: status['bus'] as ScadaStatus['bus'], eventLoop: (status['eventLoop'] as ScadaStatus['eventLoop'] | undefined) ?? null };
}

/** The admin socket of a server starting in `dataDir`, retried for up to 15 s while it comes up. */
export async function connectAdmin(dataDir: string): Promise<AdminClient> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await AdminClient.connect(join(dataDir, 'admin.sock'));
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}
