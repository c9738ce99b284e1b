/**
 * A subscriber process of bench/chat-fanout.ts, started with
 * `child_process.fork` (never run by hand). It holds a share of the
 * subscribers of one run, all on one peer: gridlink chat members
 * (GridlinkClient.joinChat) or MQTT clients (mqtt.js, QoS 0), so the
 * subscribers' event loop is not the publisher's. It times every delivery
 * and reports counts and latencies back over IPC (messages in
 * ./fanout-protocol.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GridlinkClient } from '../../dist/client/index.js';
import { decodePayload, FANOUT_ROOM, isTagged, PUBLISHER_NICK, type FromSubscribers, type StartCommand, type SubscriberReport, type ToSubscribers } from './fanout-protocol.js';
import { connectMqtt } from './mqtt-client.js';
import { sendToParent, serveParent } from './forked-child.js';

/** Subscribers connecting (and joining) at once. */
const CONNECT_CONCURRENCY = 50;
/** After the last join, "ready" waits until no chat event has arrived for this long (gridlink announces each join to every member). */
const QUIET_MS = 250;
const QUIET_LIMIT_MS = 60_000;
const PROGRESS_EVERY_MS = 200;

/** One subscriber's connection, whichever the peer. */
interface Connection {
  /** Why it ended, if it did (before `close`). */
  failure(): string | null;
  close(): void;
}

class Tally {
  readonly #lastSeq: Int32Array;
  readonly #perSubscriber: Uint32Array;
  readonly #latenciesUs: Float64Array;
  received = 0;
  duplicatesOrReordered = 0;
  malformed = 0;
  lastReceiveNs: number | null = null;
  /** When the last chat event of any kind arrived (Date.now), for the quiet wait before "ready". */
  lastEventMs = Date.now();

  constructor(count: number, messages: number) {
    this.#lastSeq = new Int32Array(count).fill(-1);
    this.#perSubscriber = new Uint32Array(count);
    this.#latenciesUs = new Float64Array(count * messages);
  }

  /** A message from the publisher reached subscriber `local` (index within this process). */
  record(local: number, text: string): void {
    const now = Number(process.hrtime.bigint());
    this.lastEventMs = Date.now();
    const payload = decodePayload(text);
    if (payload === null) {
      this.malformed += 1;
      return;
    }
    if (payload.seq <= (this.#lastSeq[local] ?? -1)) this.duplicatesOrReordered += 1;
    else this.#lastSeq[local] = payload.seq;
    this.#perSubscriber[local] = (this.#perSubscriber[local] ?? 0) + 1;
    if (this.received < this.#latenciesUs.length) this.#latenciesUs[this.received] = (now - payload.sentNs) / 1000;
    this.received += 1;
    this.lastReceiveNs = now;
  }

  report(connections: readonly Connection[]): SubscriberReport {
    const disconnectReasons: Record<string, number> = {};
    let disconnected = 0;
    for (const connection of connections) {
      const failure = connection.failure();
      if (failure === null) continue;
      disconnected += 1;
      disconnectReasons[failure] = (disconnectReasons[failure] ?? 0) + 1;
    }
    return {
      type: 'report',
      received: this.received,
      duplicatesOrReordered: this.duplicatesOrReordered,
      malformed: this.malformed,
      disconnected,
      disconnectReasons,
      minPerSubscriber: this.#perSubscriber.reduce((min, n) => Math.min(min, n), Number.POSITIVE_INFINITY),
      lastReceiveNs: this.lastReceiveNs,
      latenciesUs: this.#latenciesUs.slice(0, Math.min(this.received, this.#latenciesUs.length)),
    };
  }
}

/** Where subscriber `sub<index>` connects: the targets' ports in turn. */
function portOf(start: StartCommand, index: number): number {
  const port = start.ports[index % start.ports.length];
  if (port === undefined) throw new Error('start: no ports');
  return port;
}

async function joinGridlink(start: StartCommand, index: number, local: number, tally: Tally): Promise<Connection> {
  const client = await GridlinkClient.connect({ host: start.host, port: portOf(start, index) });
  try {
    await client.joinChat(FANOUT_ROOM, `sub${index}`, (event) => {
      if (event.type === 'message' && event.from === PUBLISHER_NICK && event.text !== undefined) tally.record(local, event.text);
      else tally.lastEventMs = Date.now();
    });
  } catch (err) {
    client.destroy();
    throw err;
  }
  let closing = false;
  return {
    failure: () => (closing || client.failure === null ? null : client.failure.code),
    close: () => {
      closing = true;
      client.destroy();
    },
  };
}

async function joinMqtt(start: StartCommand, index: number, local: number, tally: Tally): Promise<Connection> {
  const client = await connectMqtt(start.host, portOf(start, index), `sub${index}`);
  let closing = false;
  let failure: string | null = null;
  client.on('error', (err) => {
    failure ??= `error: ${err.message}`;
  });
  client.on('close', () => {
    if (!closing) failure ??= 'closed';
  });
  client.on('message', (_topic, payload) => tally.record(local, payload.toString('latin1')));
  try {
    const grants = await client.subscribeAsync(FANOUT_ROOM, { qos: 0 });
    if (grants.length !== 1 || grants[0]?.qos !== 0) throw new Error(`sub${index}: subscription not granted at QoS 0: ${JSON.stringify(grants)}`);
  } catch (err) {
    client.end(true);
    throw err;
  }
  return {
    failure: () => (closing ? null : failure),
    close: () => {
      closing = true;
      client.end(true);
    },
  };
}

// ---------------------------------------------------------------------------

let connections: Connection[] = [];
let tally: Tally | null = null;
let progressTimer: NodeJS.Timeout | null = null;

function send(message: FromSubscribers): Promise<void> {
  return sendToParent(message);
}

async function start(command: StartCommand): Promise<void> {
  const current = new Tally(command.count, command.messages);
  tally = current;
  const begin = Date.now();
  const open = command.peer === 'gridlink' ? joinGridlink : joinMqtt;
  for (let first = 0; first < command.count; first += CONNECT_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(CONNECT_CONCURRENCY, command.count - first) }, (_, i) => first + i);
    const settled = await Promise.allSettled(batch.map((local) => open(command, command.firstIndex + local, local, current)));
    for (const result of settled) if (result.status === 'fulfilled') connections.push(result.value);
    const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const connected = Date.now();
  // Let the join announcements drain, so they are not counted against the run.
  const quietDeadline = Date.now() + QUIET_LIMIT_MS;
  while (Date.now() - current.lastEventMs < QUIET_MS && Date.now() < quietDeadline) await sleep(QUIET_MS / 5);
  // Until the last subscriber joined and the last announcement of a join arrived.
  const connectSeconds = (Math.max(connected, current.lastEventMs) - begin) / 1000;
  progressTimer = setInterval(() => {
    send({ type: 'progress', received: current.received }).catch(() => process.exit(1));
  }, PROGRESS_EVERY_MS);
  await send({ type: 'ready', connectSeconds });
}

async function close(): Promise<void> {
  if (progressTimer !== null) clearInterval(progressTimer);
  for (const connection of connections) connection.close();
  connections = [];
  await send({ type: 'closed' });
  process.exit(0);
}

async function handle(message: unknown): Promise<void> {
  if (!isTagged(message)) throw new Error(`unexpected IPC message ${JSON.stringify(message)}`);
  const command = message as ToSubscribers;
  switch (command.type) {
    case 'start':
      await start(command);
      break;
    case 'report':
      if (tally === null) throw new Error('report before start');
      await send(tally.report(connections));
      break;
    case 'close':
      await close();
      break;
  }
}

serveParent(handle);
