import type { PointEntry } from '../point-table.js';
import type { DeviceStatus, Quality } from '../../protocol/scada.js';

/**
 * One field device as the data plane sees it, whatever protocol it speaks
 * (Modbus TCP: {@link ModbusPoller}; IEC 104: {@link Iec104Device}). The
 * service starts and stops drivers, shows their status and counts them in
 * its metrics, and the control desk sends commands through them, all alike.
 */
export interface DeviceDriver {
  readonly name: string;
  /** True while the device answers (Modbus: the last poll succeeded; IEC 104: data transfer is started). */
  readonly online: boolean;
  /** Starts acquisition after `delayMs` (the service staggers its devices). */
  start(delayMs?: number): void;
  /** Stops acquisition and closes the connection; resolves when nothing of it runs any more. */
  stop(): Promise<void>;
  status(): DeviceStatus;
  /**
   * Checks `value` for a controllable point of this device and returns the
   * function that sends it. Throws GL_ERR_SCADA_BAD_VALUE, before anything
   * is sent, when the value does not fit the point. The function resolves
   * once the device accepted the command (Modbus: the write was answered;
   * IEC 104: select and execute were confirmed), with the time from which a
   * value received counts as the command's feedback. It rejects with a
   * GridlinkError when the device refused the command, and with any other
   * error when the command could not be delivered.
   */
  command(entry: PointEntry, value: number): () => Promise<number>;
}

/** A value a device sent for one point, with its own time and quality (IEC 104). */
export interface PointUpdate {
  readonly entry: PointEntry;
  /** The value as sent (before scale and offset); NaN when it means no usable value (a double point in transit). */
  readonly raw: number;
  readonly quality: Quality;
  /** When the device says the value was produced (its CP56Time2a), else when it was received. */
  readonly sourceTime: number;
}

/** Where device drivers report: the point table, events and alarms are behind it. */
export interface DeviceSink {
  /** Values of several points, each with its own time and quality, received at `receivedAt`. */
  updates(device: string, updates: readonly PointUpdate[], receivedAt: number): void;
  /** The device stopped answering (called once per outage): its points go invalid and `deviceLost` is raised. */
  lost(device: string, reason: string): void;
  /** The device answers again after an outage (called once): the alarm clears. */
  restored(device: string): void;
}
