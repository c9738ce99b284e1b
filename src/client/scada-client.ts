import { GridlinkError } from '../errors/index.js';
import type { Alarm, DeviceStatus, HistorySample, OperateResult, PointEvent, PointSnapshot, SelectLease } from '../protocol/replies.js';
import type { NativeChannel } from './native-channel.js';

/** Where the events of a `watch` go. */
export interface WatchListeners {
  readonly onEvent: (event: PointEvent) => void;
  /** Given, the server also pushes alarm changes. */
  readonly onAlarm?: (alarm: Alarm) => void;
}

interface Watch extends WatchListeners {
  /** Collects the `point.snapshot` pages until the reply to `watch`; null afterwards. */
  snapshot: PointSnapshot[] | null;
}

/**
 * The SCADA data plane (docs/protocol.md §3.6): paged listings, alarms,
 * select-before-operate, substitution, and `watch`, whose events the server
 * pushes until `unwatch` or the connection ends.
 */
export class ScadaClient {
  readonly #channel: NativeChannel;
  #watch: Watch | null = null;
  #listening = false;

  constructor(channel: NativeChannel) {
    this.#channel = channel;
  }

  points(pattern?: string): Promise<PointSnapshot[]> {
    return this.#channel.pages('points', async (offset) => {
      const reply = await this.#channel.request('points', { pattern, offset });
      return { items: reply.points, next: reply.next };
    });
  }

  devices(): Promise<DeviceStatus[]> {
    return this.#channel.pages('devices', async (offset) => {
      const reply = await this.#channel.request('devices', { offset });
      return { items: reply.devices, next: reply.next };
    });
  }

  /** Samples of `point` with `since <= sourceTime < until`, oldest first, at most `limit` in all. */
  history(point: string, since: number, until?: number, limit?: number): Promise<HistorySample[]> {
    return this.#channel.pages('history', async (offset) => {
      const reply = await this.#channel.request('history', { point, since, until, limit, offset });
      return { items: reply.samples, next: reply.next };
    });
  }

  events(since: number, options: { until?: number; limit?: number; pattern?: string }): Promise<PointEvent[]> {
    const { until, limit, pattern } = options;
    return this.#channel.pages('events', async (offset) => {
      const reply = await this.#channel.request('events', { since, until, limit, pattern, offset });
      return { items: reply.events, next: reply.next };
    });
  }

  /** Alarms not both cleared and acknowledged; with `all`, the latest 1,000. */
  alarms(all: boolean): Promise<Alarm[]> {
    return this.#channel.pages('alarms', async (offset) => {
      const reply = await this.#channel.request('alarms', { all: all ? true : undefined, offset });
      return { items: reply.alarms, next: reply.next };
    });
  }

  async acknowledge(alarm: number): Promise<Alarm> {
    return (await this.#channel.request('alarm.ack', { alarm })).alarm;
  }

  async select(point: string): Promise<SelectLease> {
    return (await this.#channel.request('select', { point })).lease;
  }

  async deselect(point: string): Promise<void> {
    await this.#channel.request('deselect', { point });
  }

  async operate(point: string, value: number): Promise<OperateResult> {
    return (await this.#channel.request('operate', { point, value })).result;
  }

  async substitute(point: string, value: number | null): Promise<PointSnapshot> {
    return (await this.#channel.request('substitute', { point, value })).point;
  }

  /**
   * Watches the points matching `pattern` (all without one): resolves with
   * their current state, gathered from the `point.snapshot` frames that come
   * before the reply; then every event (and, with `onAlarm`, every alarm
   * change) arrives at the listeners in order. A later watch replaces the
   * earlier one, as on the server.
   */
  async watch(pattern: string | undefined, listeners: WatchListeners): Promise<PointSnapshot[]> {
    this.#listen();
    const watch: Watch = { ...listeners, snapshot: [] };
    this.#watch = watch;
    const reply = await this.#channel.request('watch', { pattern, alarms: listeners.onAlarm === undefined ? undefined : true });
    // The snapshot's frames come before the reply: they are all here.
    const points = watch.snapshot ?? [];
    watch.snapshot = null;
    if (points.length !== reply.points) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `watch: ${points.length} of ${reply.points} snapshot points arrived`);
    return points;
  }

  async unwatch(): Promise<void> {
    await this.#channel.request('unwatch', {});
    this.#watch = null;
  }

  /** Routes the pushed frames of a watch to the current one (listeners are added once per connection). */
  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#channel.onPush('point.snapshot', (page) => this.#watch?.snapshot?.push(...page.points));
    this.#channel.onPush('point.event', (event) => this.#watch?.onEvent(event));
    this.#channel.onPush('alarm.event', (change) => this.#watch?.onAlarm?.(change.alarm));
  }
}
