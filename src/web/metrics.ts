import type { ScadaApi } from '../protocol/scada.js';
import type { ServerStatus } from '../protocol/server-status.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/**
 * HTTP request counters by route, method and status. Routes are the API's
 * route patterns, `static` or `unmatched`, so the label set stays bounded
 * whatever URLs clients send.
 */
export class HttpCounters {
  readonly #requests = new Map<string, { route: string; method: string; status: number; count: number }>();

  count(route: string, method: string, status: number): void {
    const m = METHODS.has(method) ? method : 'OTHER';
    const key = `${route} ${m} ${status}`;
    const entry = this.#requests.get(key);
    if (entry === undefined) this.#requests.set(key, { route, method: m, status, count: 1 });
    else entry.count += 1;
  }

  entries(): Iterable<{ route: string; method: string; status: number; count: number }> {
    return this.#requests.values();
  }
}

export interface MetricsInput {
  readonly status: ServerStatus;
  readonly http: HttpCounters;
  readonly webSessions: number;
  readonly liveSockets: number;
  readonly scada: ScadaApi | null;
}

/** A label value escaped for the text format. */
function label(value: string): string {
  return value.replace(/\\/gu, '\\\\').replace(/"/gu, '\\"').replace(/\n/gu, '\\n');
}

/**
 * `/metrics` in the Prometheus text exposition format 0.0.4 (docs/http-api.md):
 * connections, transfers, chat, bus (with the drops and disconnects of the
 * slow-subscriber policies, docs/protocol.md §3.4), web sessions and sockets, HTTP
 * requests, and — when the data plane runs — points, devices and alarms.
 */
export function renderMetrics(input: MetricsInput): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string> | null, number]>): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = labels === null ? '' : `{${Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',')}}`;
      out.push(`${name}${text} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const s = input.status;
  metric('gridlink_uptime_seconds', 'gauge', 'Seconds since the server started.', [[null, s.uptimeMs / 1000]]);
  if (s.eventLoop !== undefined) {
    const loop = s.eventLoop;
    metric('gridlink_event_loop_delay_seconds', 'gauge', 'How late the event loop every service shares ran over the last minute (quantile 1: the worst).', [
      [{ quantile: '0.5' }, loop.p50Ms / 1000],
      [{ quantile: '0.99' }, loop.p99Ms / 1000],
      [{ quantile: '1' }, loop.maxMs / 1000],
    ]);
  }
  metric('gridlink_native_connections', 'gauge', 'Open native-protocol connections.', [[null, s.connections]]);
  metric('gridlink_native_connections_accepted_total', 'counter', 'Native-protocol connections accepted.', [[null, s.acceptedConnections]]);
  metric('gridlink_transfers_active', 'gauge', 'File transfers moving bytes now.', [[null, s.activeTransfers]]);
  metric('gridlink_transfers_queued', 'gauge', 'File transfers waiting for a slot.', [[null, s.queuedTransfers]]);
  metric('gridlink_chat_members', 'gauge', 'Members per chat room.', Object.entries(s.chatRooms).map(([room, n]) => [{ room }, n]));
  metric('gridlink_bus_published_total', 'counter', 'Messages published on the bus.', [[null, s.bus.published]]);
  metric('gridlink_bus_delivered_total', 'counter', 'Messages delivered to subscribers.', [[null, s.bus.delivered]]);
  metric('gridlink_bus_dropped_total', 'counter', 'Messages dropped by the drop-oldest policy (slow telemetry subscribers).', [[null, s.bus.dropped]]);
  metric('gridlink_bus_disconnected_total', 'counter', 'Subscribers removed by the disconnect policy (slow chat members).', [[null, s.bus.disconnected]]);
  metric('gridlink_bus_subscriptions', 'gauge', 'Bus subscriptions.', [[null, s.bus.subscriptions]]);
  metric('gridlink_web_sessions', 'gauge', 'Logged-in web sessions.', [[null, input.webSessions]]);
  metric('gridlink_web_live_sockets', 'gauge', 'Open /api/live WebSockets.', [[null, input.liveSockets]]);
  metric(
    'gridlink_http_requests_total',
    'counter',
    'HTTP requests by route, method and status.',
    [...input.http.entries()].map((e) => [{ route: e.route, method: e.method, status: String(e.status) }, e.count]),
  );
  if (input.scada !== null) {
    const byQuality = new Map<string, number>();
    for (const point of input.scada.points()) byQuality.set(point.quality, (byQuality.get(point.quality) ?? 0) + 1);
    metric('gridlink_points', 'gauge', 'Points by quality.', [...byQuality].map(([quality, n]) => [{ quality }, n]));
    const devices = input.scada.devices();
    metric('gridlink_devices', 'gauge', 'Field devices by state.', [
      [{ state: 'online' }, devices.filter((d) => d.online).length],
      [{ state: 'offline' }, devices.filter((d) => !d.online).length],
    ]);
    metric('gridlink_device_polls_total', 'counter', 'Polls per device.', devices.map((d) => [{ device: d.name }, d.polls]));
    metric('gridlink_device_poll_failures_total', 'counter', 'Failed polls per device.', devices.map((d) => [{ device: d.name }, d.failures]));
    const alarms = input.scada.alarms();
    const byState = new Map<string, number>();
    for (const alarm of alarms) byState.set(alarm.state, (byState.get(alarm.state) ?? 0) + 1);
    metric('gridlink_alarms', 'gauge', 'Open alarms by state.', [...byState].map(([state, n]) => [{ state }, n]));
  }
  const history = s.scada?.history;
  if (history !== undefined) {
    metric('gridlink_history_rows_total', 'counter', 'Events stored in history, by where they were written (the writer thread, or the event loop when the thread failed or is gone).', [
      [{ writer: 'thread' }, history.rowsInThread],
      [{ writer: 'loop' }, history.rowsOnLoop],
    ]);
    metric('gridlink_history_rows_lost_total', 'counter', 'Events the history database refused (a full disk, a broken database): not stored.', [[null, history.rowsLost]]);
  }
  const owners = s.scada?.owners;
  if (owners !== undefined) {
    // docs/cluster.md, "Acquisition ownership": who polls what, as this node knows it.
    metric('gridlink_device_owner', 'gauge', 'The node acquiring each device: 1 on its series (node="" while none does).', Object.entries(owners).map(([device, node]) => [{ device, node: node ?? '' }, 1]));
  }
  const cluster = s.cluster;
  if (cluster !== undefined && cluster !== null) {
    // docs/cluster.md, "Loss of NATS": the node says here whether it reaches the cluster.
    const states = ['connected', 'reconnecting', 'down'] as const;
    metric('gridlink_cluster_nats_state', 'gauge', 'The link to NATS: 1 for its state now.', states.map((state) => [{ state }, cluster.nats.state === state ? 1 : 0]));
    metric('gridlink_cluster_nats_state_seconds', 'gauge', 'Seconds the link to NATS has been in its state.', [[null, (Date.now() - Date.parse(cluster.nats.since)) / 1000]]);
    metric('gridlink_cluster_nats_reconnects_total', 'counter', 'Times the link to NATS came back.', [[null, cluster.nats.reconnects]]);
    metric('gridlink_cluster_publishes_total', 'counter', 'Publishes to NATS: delivered, retried (JetStream, after a failure) and failed (given up, logged).', [
      [{ result: 'published' }, cluster.nats.published],
      [{ result: 'retried' }, cluster.nats.retried],
      [{ result: 'failed' }, cluster.nats.failed],
    ]);
    metric('gridlink_cluster_publishes_pending', 'gauge', 'Chat publishes waiting for their JetStream ack.', [[null, cluster.bus.pending]]);
    metric('gridlink_cluster_received_total', 'counter', 'Bus messages received from other nodes.', [[null, cluster.bus.received]]);
    metric('gridlink_cluster_nodes', 'gauge', 'Live nodes this node knows of, itself included.', [[null, cluster.nodes.length]]);
  }
  return `${out.join('\n')}\n`;
}
