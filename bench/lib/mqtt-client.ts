import { Socket } from 'node:net';

/**
 * The MQTT client of bench/chat-fanout.ts: mqtt.js, a bench-only dependency
 * (bench/package.json, installed into bench/node_modules by
 * `npm ci --prefix bench`, which bash bench/run.sh does).
 *
 * It is loaded at run time, not imported statically: `npm test` type-checks
 * and lints bench/ in a clean clone where bench/node_modules does not exist,
 * and a static import of 'mqtt' would fail there. So the part of its API the
 * benchmark uses is written down here (checked against mqtt.js 5.16's
 * declarations when this was written).
 */
export interface MqttClient {
  /** The transport: a net.Socket for mqtt:// URLs. */
  readonly stream: unknown;
  on(event: 'message', listener: (topic: string, payload: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  /** QoS 0: `callback` runs once the packet was written (or failed). */
  publish(topic: string, message: Buffer, options: { qos: 0 }, callback: (err?: Error) => void): this;
  subscribeAsync(topic: string, options: { qos: 0 }): Promise<{ topic: string; qos: number }[]>;
  end(force: boolean): this;
  endAsync(): Promise<void>;
}

interface MqttConnectOptions {
  host: string;
  port: number;
  protocol: 'mqtt';
  protocolVersion: 4;
  clientId: string;
  clean: boolean;
  reconnectPeriod: number;
}

interface MqttModule {
  connectAsync(options: MqttConnectOptions): Promise<MqttClient>;
}

/** A variable, so TypeScript does not try to resolve the package. */
const MQTT_PACKAGE = 'mqtt';
let loaded: Promise<MqttModule> | null = null;

function loadMqtt(): Promise<MqttModule> {
  loaded ??= (import(MQTT_PACKAGE) as Promise<MqttModule>).catch((err: unknown) => {
    throw new Error(`cannot load mqtt.js, a bench-only dependency: run \`npm ci --prefix bench\` (${err instanceof Error ? err.message : String(err)})`);
  });
  return loaded;
}

/**
 * An MQTT 3.1.1 client: clean session, no reconnects, and TCP_NODELAY on its
 * socket, as GridlinkClient and (configured so) mosquitto set it; mqtt.js
 * leaves Nagle's algorithm on, which holds back small publishes.
 */
export async function connectMqtt(host: string, port: number, clientId: string): Promise<MqttClient> {
  const mqtt = await loadMqtt();
  const client = await mqtt.connectAsync({ host, port, protocol: 'mqtt', protocolVersion: 4, clientId, clean: true, reconnectPeriod: 0 });
  if (client.stream instanceof Socket) client.stream.setNoDelay(true);
  return client;
}
