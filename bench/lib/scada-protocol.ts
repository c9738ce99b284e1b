/**
 * What bench/scada-poll.ts and its devices process (bench/lib/scada-devices.ts)
 * share: the register map the bench configures, and the messages they
 * exchange over the IPC channel of `child_process.fork` (serialization
 * 'advanced', so times travel as bigints).
 *
 * Clocks: change and receive times are `process.hrtime.bigint()`, which on
 * Linux is CLOCK_MONOTONIC, one clock for every process on the machine, so
 * the time of a change taken in the devices process can be compared with the
 * arrival of its event in the bench process.
 */
import { FEEDER_REGISTER, REGISTERS_PER_FEEDER } from '../../dist/scada/simulator/layout.js';

export { FEEDER_REGISTER, REGISTERS_PER_FEEDER };

/** The point name of register `register` of Modbus unit `unit`: `dev001.r042`. */
export function registerPoint(unit: number, register: number): string {
  return `dev${String(unit).padStart(3, '0')}.r${String(register).padStart(3, '0')}`;
}

/**
 * Latency probe `id` pins a feeder's current to {@link probeRaw}(id) counts
 * (0.1 A per count): 4000 A and up, far above any simulated load (≤ 520 A),
 * so the event that carries it can only be the probe's. Consecutive probes
 * differ by 10 A, beyond any deadband the bench configures (2 A), so a probe
 * on a feeder whose previous probe the server has not yet seen undone is
 * still an event.
 */
export function probeRaw(id: number): number {
  return PROBE_BASE_RAW + (id % PROBE_VALUES) * PROBE_STEP_RAW;
}
const PROBE_BASE_RAW = 40_000;
const PROBE_STEP_RAW = 100;
/** 40,000 + 249 × 100 = 64,900: within a uint16 register. */
const PROBE_VALUES = 250;
/** Engineering scale of the current register (layout.ts: 0.1 A per count). */
export const CURRENT_SCALE = 0.1;

// ---------------------------------------------------------------------------
// IPC: bench → devices process

export interface StartDevices {
  readonly type: 'start';
  readonly host: string;
  readonly units: number;
  readonly feeders: number;
  /** Noise redraw period of the simulator, ms. */
  readonly updateMs: number;
}

/** Pins feeder `feeder` (0-based) of unit `unit` to `raw` current counts. */
export interface ChangeCommand {
  readonly type: 'change';
  readonly id: number;
  readonly unit: number;
  readonly feeder: number;
  readonly raw: number;
}

/** Returns the feeder to its noisy self. */
export interface RestoreCommand {
  readonly type: 'restore';
  readonly unit: number;
  readonly feeder: number;
}

export type ToDevices = StartDevices | ChangeCommand | RestoreCommand | { readonly type: 'close' };

// ---------------------------------------------------------------------------
// IPC: devices process → bench

export type FromDevices =
  | { readonly type: 'ready'; readonly port: number }
  /** The register holds the new value from `atNs` (hrtime) on; `atMs` is Date.now() then. */
  | { readonly type: 'changed'; readonly id: number; readonly atNs: bigint; readonly atMs: number }
  | { readonly type: 'closed' }
  | { readonly type: 'failed'; readonly message: string };

/** A message from the other side, checked for its shape's tag (both sides are this code). */
export function isTagged(message: unknown): message is { readonly type: string } {
  return typeof message === 'object' && message !== null && 'type' in message && typeof message.type === 'string';
}
