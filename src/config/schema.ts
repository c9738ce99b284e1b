import { z } from 'zod';
import { scadaSchema } from './scada-schema.js';

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().min(1);

/**
 * The configuration file (JSON), validated strictly: an unknown or mistyped
 * key is an error that names it. Every key has an embedded default (docs/architecture.md),
 * so `{}` is a complete configuration. See docs/configuration.md.
 */
export const configSchema = z.strictObject({
  /** Data directory: anonymous area, homes, staging, database, admin socket. */
  dataDir: z.string().min(1).default('./gridlink-data'),
  native: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8889),
      /** Connections at most; unset: derived from the open-files limit (`ulimit -n`) with headroom, see docs/security.md. */
      maxConnections: positiveInt.optional(),
      /** Connections from one address (an IPv6 /64) at most; beyond, GL_ERR_SERVER_BUSY. */
      maxConnectionsPerAddress: positiveInt.default(256),
      /** Close a connection with no traffic in either direction for this long. */
      idleTimeoutMs: positiveInt.default(300_000),
      /** A frame header must be complete this long after its first byte arrived (a header sent a byte at a time never looks idle). */
      headerTimeoutMs: positiveInt.default(10_000),
      /** PEM files; when both are set the native listener speaks TLS. */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest header a peer may send, bytes (the protocol allows at most 65536). */
      maxHeaderBytes: z.number().int().min(64).max(65_536).default(65_536),
      /** Largest body of one frame, bytes. */
      maxBodyBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(Number.MAX_SAFE_INTEGER),
    })
    .prefault({}),
  /** The anonymous file area of the legacy protocol (docs/protocol.md §2); off unless enabled. */
  anonymous: z
    .strictObject({
      enabled: z.boolean().default(false),
      writable: z.boolean().default(false),
      /** Defaults to `<dataDir>/public`. Must be on the same filesystem as dataDir. */
      dir: z.string().min(1).optional(),
      /** Bytes the anonymous area may hold when writable (1 GiB): nobody's quota covers it otherwise. */
      quota: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(1024 ** 3),
    })
    .prefault({}),
  files: z
    .strictObject({
      /** fsync every upload before it is renamed into place, and its directory after (survives power loss). false: no fsync at all. */
      durable: z.boolean().default(true),
      maxUploadsPerSession: positiveInt.max(64).default(4),
      /** Transfers moving bytes at once; more wait their turn (bounds memory: about 3 MiB of file I/O each). */
      maxActiveTransfers: positiveInt.default(64),
      /** Partial uploads untouched this long are deleted. */
      partialMaxAgeHours: z.number().positive().default(72),
      /**
       * A put.open of a name whose upload by the same account has received
       * nothing for this long takes it over (resuming from its stored bytes)
       * instead of GL_ERR_FILE_BUSY: the older one's client is presumed cut off.
       */
      takeOverIdleUploadMs: positiveInt.default(2_000),
      /** Most files and directories one area (a user's home, the anonymous area) may hold. */
      maxEntries: positiveInt.default(100_000),
    })
    .prefault({}),
  /** Chat rooms (docs/protocol.md §3.4) on the native protocol. */
  chat: z
    .strictObject({
      /** Let connections that have not logged in chat (the course's room had no login). */
      allowAnonymous: z.boolean().default(false),
    })
    .prefault({}),
  /** The course's UDP chat room (docs/legacy-chat.md); off unless enabled (the demo defaults enable it). */
  legacyChat: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8888),
      /** A member that sends nothing for this long is removed (UDP has no disconnect). */
      idleTimeoutMs: positiveInt.default(3_600_000),
      maxMembers: positiveInt.default(10_000),
      /** Names one IP address may hold at once: UDP sources can be forged, and each name makes the room send to its address. */
      maxNamesPerAddress: positiveInt.default(4),
      /** Bytes sent to one IP address per second at most; datagrams beyond are dropped (docs/security.md). */
      maxBytesPerAddressPerSecond: positiveInt.default(65_536),
    })
    .prefault({}),
  /** The web HMI, REST API and WebSocket (docs/http-api.md). See docs/http-api.md. */
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8000),
      /** The built page; defaults to `dist/hmi/` of the installed package. */
      staticDir: z.string().min(1).optional(),
      /** A web session unused this long ends (docs/http-api.md, docs/http-api.md). */
      sessionIdleMinutes: z.number().positive().default(30),
      /** Web sessions kept at most; the least recently used goes first. */
      maxSessions: positiveInt.default(10_000),
      /** Largest JSON request body, bytes (file uploads are bounded by the quota instead). */
      maxBodyBytes: positiveInt.default(65_536),
      /** PEM files; when both are set the HTTP listener speaks HTTPS and cookies are Secure. */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** Origins accepted besides the server's own (e.g. `https://hmi.example` behind a proxy). */
      origins: z.array(z.string().min(1)).default([]),
      /**
       * Host names the HMI is reached by, besides IP addresses, `localhost`, `host` and the hosts of
       * `origins`: any other Host header is refused (a DNS-rebinding page), see docs/security.md.
       */
      hosts: z.array(z.string().min(1)).default([]),
      /** Addresses that may read /metrics (`*` for any); loopback by default. */
      metricsAllow: z.array(z.string().min(1)).default(['127.0.0.1', '::1']),
    })
    .prefault({}),
  /**
   * The FTP / FTPS front (docs/ftp.md, docs/configuration.md "FTP"): the same
   * accounts, homes, quotas and audit as the native protocol; off unless
   * enabled (the demo defaults enable it, on loopback).
   */
  ftp: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(2121),
      /** Ports passive data connections listen on: "first-last", or 0 for any free port the OS picks. */
      passivePorts: z
        .union([z.literal(0), z.string().regex(/^\d{1,5}-\d{1,5}$/u, 'a range "first-last", e.g. "30000-30099", or 0')])
        .default('30000-30099')
        .refine((v) => v === 0 || passiveRange(v) !== null, 'ports 1..65535 with first <= last'),
      /** PEM files; when both are set the front offers AUTH TLS (RFC 4217). */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** Control connections at most; beyond, 421 and closed. */
      maxConnections: positiveInt.default(2048),
      /** Close a control connection with no command for this long (never during a transfer). */
      idleTimeoutMs: positiveInt.default(300_000),
      /** A data connection must open, and then move bytes, within this long. */
      dataTimeoutMs: positiveInt.default(30_000),
    })
    .prefault({}),
  /** The SCADA data plane (docs/protocol.md §3.6): simulator, acquisition, alarms, control, history. */
  scada: scadaSchema.prefault({}),
  /**
   * gridlink as an IEC 60870-5-104 controlled station (docs/iec104.md
   * "Controlled station", docs/configuration.md "IEC 104"); off unless
   * enabled (the demo defaults enable it, on loopback). Times in milliseconds.
   */
  iec104: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(2404),
      /** Common address of ASDU of the station, 1..65534 (65535 is the global address). */
      commonAddress: z.number().int().min(1).max(65_534).default(1),
      /** Peer addresses a master may connect from (`*`: any); others are closed at accept. */
      allow: z.array(z.string().min(1)).default(['127.0.0.1', '::1', '::ffff:127.0.0.1']),
      /** Most I-format APDUs sent and not yet acknowledged. */
      k: z.number().int().min(1).max(32_767).default(12),
      /** Acknowledge at the latest after this many received I-format APDUs (w ≤ k). */
      w: z.number().int().min(1).max(32_767).default(8),
      /** TLS handshake time-out (connection establishment), ms. */
      t0: positiveInt.default(30_000),
      /** Time-out of send or test APDUs, ms. */
      t1: positiveInt.default(15_000),
      /** Time-out for acknowledging received I-format APDUs, ms (t2 < t1). */
      t2: positiveInt.default(10_000),
      /** Idle time before a test frame, ms. */
      t3: positiveInt.default(20_000),
      /** ASDUs (spontaneous events while data transfer is stopped) buffered per master; past it the oldest are dropped and counted. */
      maxQueued: positiveInt.default(10_000),
      /** Masters connected at once. */
      maxConnections: positiveInt.default(16),
      /** PEM files; when both are set the station speaks TLS. */
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    })
    .refine((c) => c.w <= c.k, { message: 'w must not exceed k', path: ['w'] })
    .refine((c) => c.t2 < c.t1, { message: 't2 must be shorter than t1', path: ['t2'] })
    .prefault({}),
  /**
   * Cluster mode (docs/cluster.md): the NATS JetStream servers to join and
   * this node's name. No servers (the default): one process, the in-process
   * bus, no NATS needed.
   */
  cluster: z
    .strictObject({
      /** `nats://HOST:PORT` URLs, as a list or comma-separated (`--cluster`). */
      nats: z
        .union([z.string(), z.array(z.string())])
        .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))
        .pipe(z.array(z.string().regex(/^nats:\/\/[^\s,/]+$/u, 'a NATS server is nats://HOST:PORT')).max(32))
        .default([]),
      /** This node's name, unique among the live nodes; unset: the host name. */
      node: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/u, '1-64 letters, digits, "_" or "-"').optional(),
      /** A node that sent no heartbeat for this long is dead: its chat members leave, its leases and devices are freed. */
      nodeTimeoutMs: z.number().int().min(1_000).max(300_000).default(6_000),
      /** Copies of each stream and bucket kept by the NATS servers (at most their number; 3 survives the loss of one). */
      replicas: z.number().int().min(1).max(5).default(3),
    })
    .prefault({}),
  /** On SIGINT/SIGTERM, running transfers get this long to finish. */
  shutdownGraceMs: z.number().int().min(0).default(10_000),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
});

/** `ftp.passivePorts` as [first, last], or null when it is not a valid range. */
export function passiveRange(value: string): [number, number] | null {
  const [first, last] = value.split('-').map(Number);
  if (first === undefined || last === undefined || first < 1 || last > 65_535 || first > last) return null;
  return [first, last];
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;

/**
 * What `gridlink serve` runs with no config file at all: the demo defaults of
 * docs/protocol.md §2 (anonymous area on and writable) and §5 (the course's chat room
 * and chat without login), the simulator's demo scenario (docs/configuration.md
 * "Demo scenario"), all on loopback only.
 */
export const DEMO_CONFIG: ConfigInput = {
  anonymous: { enabled: true, writable: true },
  chat: { allowAnonymous: true },
  legacyChat: { enabled: true },
  ftp: { enabled: true },
  iec104: { enabled: true },
  scada: { simulator: { scenario: { enabled: true } } },
};
