/**
 * The one catalogue of gridlink error codes, shared by the server, the client
 * library, the CLI, the web API and docs/errors.md (rendered from it by
 * src/errors/render-docs.ts). tests/unit/error-catalogue.test.ts keeps this
 * file and the docs in step, so a code is never added in one place only.
 */

/** The HTTP statuses the web API answers errors with (docs/http-api.md). */
export type HttpErrorStatus = 400 | 401 | 403 | 404 | 409 | 411 | 413 | 416 | 429 | 500 | 503 | 507;

/** What every catalogue entry says about its code. */
export interface CatalogueEntry {
  /** What went wrong, for people; no final period (details may follow after ": "). */
  readonly message: string;
  /** What the user can do next. */
  readonly hint: string;
  /** The connection is closed after this error: framing (or trust in the peer) is lost. */
  readonly fatal: boolean;
  /**
   * The status of an HTTP response carrying this error (docs/http-api.md):
   * 400 bad input, 401 no session, 403 role or origin, 404 unknown, 409 a
   * conflict with the current state (a lease, a busy name, a substitution),
   * 413 too large, 429 throttled, 503 device or data plane unavailable.
   * Codes the web API never answers with keep 400 (client side) or 500
   * (server side), the status they would get.
   */
  readonly http: HttpErrorStatus;
  /**
   * A mistake in how a command was invoked (wrong or missing arguments): the
   * CLI exits with status 2 instead of 1 (see {@link exitCodeOf}).
   */
  readonly usage?: true;
}

const ENTRIES = {
  // --- frame codec (docs/protocol.md, 1. Frames) ---
  GL_ERR_FRAME_HEADER_LENGTH: {
    message: 'frame header length is outside 1..65536 bytes',
    hint: 'send an int32 little-endian header length, then that many bytes of JSON',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_BAD_JSON: {
    message: 'frame header is not valid UTF-8 JSON',
    hint: 'encode the header as a UTF-8 JSON object',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_NOT_OBJECT: {
    message: 'frame header is not a JSON object',
    hint: 'the header must be a JSON object such as {"cmd":"get","name":"a.txt"}',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_NO_CMD: {
    message: 'frame header has no string field "cmd"',
    hint: 'add a "cmd" field naming the command',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_BAD_SIZE: {
    message: 'frame field "size" is not a non-negative integer',
    hint: '"size" is the exact number of body bytes that follow the header',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_BODY_TOO_LARGE: {
    message: 'frame body is larger than this server accepts',
    hint: 'split the transfer or ask the administrator to raise limits.maxBodyBytes',
    fatal: true,
    http: 400,
  },
  GL_ERR_FRAME_TRUNCATED: {
    message: 'connection ended in the middle of a frame',
    hint: 'the transfer was cut; run the same command again to resume it',
    fatal: true,
    http: 400,
  },

  // --- protocol (docs/protocol.md, 2. Legacy frames and 3. Versioned frames) ---
  GL_ERR_PROTO_UNKNOWN_CMD: {
    message: 'unknown command',
    hint: 'see docs/protocol.md for the command set',
    fatal: false,
    http: 400,
  },
  GL_ERR_PROTO_BAD_FIELD: {
    message: 'a header field is missing or has the wrong type',
    hint: 'see docs/protocol.md for the fields of this command',
    fatal: false,
    http: 400,
  },
  GL_ERR_PROTO_BAD_VERSION: {
    message: 'unsupported protocol version',
    hint: 'send "v":1, or no "v" at all for the legacy course protocol',
    fatal: true,
    http: 400,
  },
  GL_ERR_PROTO_UNEXPECTED_BODY: {
    message: 'this command takes no body',
    hint: 'send "size" only with commands that carry data',
    fatal: false,
    http: 400,
  },
  GL_ERR_PROTO_BAD_STATE: {
    message: 'command not allowed in this state',
    hint: 'open the transfer first (put.open), then send its data and commit',
    fatal: false,
    http: 400,
  },

  // --- paths: the jail (docs/protocol.md, 3.3 Files; docs/architecture.md, "The jail has two layers") ---
  GL_ERR_PATH_INVALID: {
    message: 'path is empty, too long, or contains forbidden characters',
    hint: 'use a relative path of printable characters, at most 4096 bytes, with names up to 255 bytes',
    fatal: false,
    http: 400,
  },
  GL_ERR_PATH_FORBIDDEN: {
    message: 'path leads outside the area you may use',
    hint: 'use a path inside your area without "..", absolute prefixes or links that point outside',
    fatal: false,
    http: 403,
  },

  // --- accounts and authentication (docs/protocol.md, 3.2 Authentication) ---
  GL_ERR_AUTH_REQUIRED: {
    message: 'log in first',
    hint: 'pass --user NAME (the password comes from GRIDLINK_PASSWORD or a prompt)',
    fatal: false,
    http: 401,
  },
  GL_ERR_AUTH_FAILED: {
    message: 'wrong user name or password',
    hint: 'check both; repeated failures are throttled',
    fatal: false,
    http: 401,
  },
  GL_ERR_AUTH_THROTTLED: {
    message: 'too many failed logins',
    hint: 'wait the time given, then try again with the right password',
    fatal: false,
    http: 429,
  },
  GL_ERR_AUTH_INSECURE: {
    message: 'a password may only be sent over TLS or from this machine',
    hint: 'log in with the challenge-response (the gridlink client does by default) or connect over TLS',
    fatal: false,
    http: 403,
  },
  GL_ERR_AUTH_NO_CHALLENGE: {
    message: 'no valid challenge for this proof',
    hint: 'ask auth.challenge first; a challenge is good for one proof within 60 seconds',
    fatal: false,
    http: 401,
  },
  GL_ERR_AUTH_FORBIDDEN: {
    message: 'your role does not allow this',
    hint: 'ask an administrator for a role that does',
    fatal: false,
    http: 403,
  },

  // --- local administration (docs/protocol.md, 6. Local admin socket) ---
  GL_ERR_ADMIN_USER_EXISTS: {
    message: 'a user with this name already exists',
    hint: 'pick another name, or change the existing user with "gridlink admin user passwd|quota"',
    fatal: false,
    http: 400,
  },
  GL_ERR_ADMIN_NO_USER: {
    message: 'no such user',
    hint: 'list users with "gridlink admin user list"',
    fatal: false,
    http: 400,
  },
  GL_ERR_ADMIN_BAD_NAME: {
    message: 'invalid user name',
    hint: 'use 1-32 characters: letters, digits, ".", "_" or "-", starting with a letter or digit',
    fatal: false,
    http: 400,
  },
  GL_ERR_ADMIN_WEAK_PASSWORD: {
    message: 'password too short',
    hint: 'use at least 8 characters',
    fatal: false,
    http: 400,
  },
  GL_ERR_ADMIN_UNREACHABLE: {
    message: 'cannot reach the server\'s admin socket',
    hint: 'check that "gridlink serve" runs with the same --data directory and that you may open <data>/admin.sock',
    fatal: true,
    http: 400,
  },
  GL_ERR_ADMIN_SOCKET_IN_USE: {
    message: 'another gridlink server is already running with this data directory',
    hint: 'stop that server first, or give this one its own --data directory',
    fatal: true,
    http: 400,
  },
  GL_ERR_ADMIN_SOCKET: {
    message: 'cannot create the admin socket',
    hint: 'use a data directory you own, with a path short enough for a Unix socket (about 100 bytes), and remove any other file named admin.sock',
    fatal: true,
    http: 400,
  },
  GL_ERR_ADMIN_NO_PASSWORD: {
    message: 'no new password given',
    hint: 'set GRIDLINK_PASSWORD, or run the command in a terminal to be asked for one',
    fatal: false,
    http: 400,
  },
  GL_ERR_ADMIN_PASSWORD_MISMATCH: {
    message: 'the two passwords typed differ',
    hint: 'run the command again and type the same password twice',
    fatal: false,
    http: 400,
  },

  // --- message bus (docs/architecture.md, "The bus is an interface") ---
  GL_ERR_BUS_BAD_TOPIC: {
    message: 'invalid topic or pattern',
    hint: 'use dot-separated tokens of letters, digits and _-:@+=; in patterns * matches one token and > the rest',
    fatal: false,
    http: 400,
  },

  // --- cluster (docs/cluster.md) ---
  GL_ERR_CLUSTER_UNREACHABLE: {
    message: 'cannot join the cluster: no NATS server with JetStream answered',
    hint: 'check --cluster (cluster.nats) and that nats-server runs with -js; see docs/cluster.md',
    fatal: true,
    http: 503,
  },
  GL_ERR_CLUSTER_NODE_TAKEN: {
    message: 'another live node of the cluster already has this node name',
    hint: 'give this node another name with --node (cluster.node), or stop the other node first',
    fatal: true,
    http: 409,
  },
  GL_ERR_CLUSTER_UNAVAILABLE: {
    message: 'the cluster cannot be reached now',
    hint: 'try again in a moment; the node rejoins the cluster by itself when NATS is back (gridlink admin status)',
    fatal: false,
    http: 503,
  },

  // --- chat (docs/protocol.md, 3.4 Chat) ---
  GL_ERR_CHAT_NICK_TAKEN: {
    message: 'this nickname is taken in the room',
    hint: 'pick another nickname',
    fatal: false,
    http: 409,
  },
  GL_ERR_CHAT_BAD_NAME: {
    message: 'invalid nickname or room name',
    hint: 'nicknames: 1-32 characters without spaces, control characters or "管理员"; rooms: 1-32 letters, digits, "_" or "-"',
    fatal: false,
    http: 400,
  },
  GL_ERR_CHAT_NOT_MEMBER: {
    message: 'you are not in this room',
    hint: 'join it first',
    fatal: false,
    http: 409,
  },
  GL_ERR_CHAT_NO_SUCH_MEMBER: {
    message: 'nobody with this nickname is in the room',
    hint: 'list the members with /who',
    fatal: false,
    http: 404,
  },
  GL_ERR_CHAT_BAD_MESSAGE: {
    message: 'the message is empty or too long',
    hint: 'send 1 to 4096 characters',
    fatal: false,
    http: 400,
  },
  GL_ERR_CHAT_TOO_SLOW: {
    message: 'you were disconnected: messages arrived faster than you read them',
    hint: 'reconnect; a chat client must keep reading',
    fatal: true,
    http: 400,
  },
  GL_ERR_CHAT_KICKED: {
    message: 'an administrator removed you from the chat',
    hint: 'ask the administrator why',
    fatal: true,
    http: 400,
  },

  // --- SCADA data plane (docs/protocol.md, 3.6 SCADA data plane) ---
  GL_ERR_SCADA_NO_POINT: {
    message: 'no such point',
    hint: 'list the points with "gridlink points"',
    fatal: false,
    http: 404,
  },
  GL_ERR_SCADA_NOT_CONTROLLABLE: {
    message: 'this point cannot be controlled',
    hint: 'select a breaker or setpoint ("gridlink points --json" shows "controllable")',
    fatal: false,
    http: 400,
  },
  GL_ERR_SCADA_SELECTED: {
    message: 'the point is selected by another operator',
    hint: 'wait until their selection ends (it expires on its own), then select again',
    fatal: false,
    http: 409,
  },
  GL_ERR_SCADA_NOT_SELECTED: {
    message: 'you do not hold a selection of this point',
    hint: 'select the point first ("gridlink select POINT"); a selection lasts for one command and expires after its timeout',
    fatal: false,
    http: 409,
  },
  GL_ERR_SCADA_BAD_VALUE: {
    message: 'the value is not valid for this point',
    hint: 'a breaker takes open|close (or 0|1); a setpoint takes a number within its register type',
    fatal: false,
    http: 400,
  },
  GL_ERR_SCADA_DEVICE_UNAVAILABLE: {
    message: 'the device does not answer',
    hint: 'check the device and its link; gridlink keeps retrying and the point turns good when it answers',
    fatal: false,
    http: 503,
  },
  GL_ERR_SCADA_COMMAND_FAILED: {
    message: 'the command was not confirmed by the status feedback in time',
    hint: 'check the device on site before trying again; an alarm was raised',
    fatal: false,
    http: 503,
  },
  GL_ERR_SCADA_COMMAND_REFUSED: {
    message: 'the device refused the command',
    hint: 'the station answered with a negative confirmation (IEC 104 P/N); check on site why it does not take commands (local control, interlock, wrong address); an alarm was raised',
    fatal: false,
    http: 409,
  },
  GL_ERR_SCADA_NO_ALARM: {
    message: 'no such open alarm',
    hint: 'list the alarms with "gridlink alarms"',
    fatal: false,
    http: 404,
  },
  GL_ERR_SCADA_SUBSTITUTED: {
    message: 'the point shows a substituted value, not the device\'s',
    hint: 'release the substitution first ("gridlink substitute POINT --release"), then select it',
    fatal: false,
    http: 409,
  },
  GL_ERR_SCADA_BAD_RANGE: {
    message: 'the time range is not valid',
    hint: 'give --since before --until, as ISO times (2026-11-22T10:00) or relative durations (15m, 2h, 1d)',
    fatal: false,
    http: 400,
  },
  GL_ERR_SCADA_DISABLED: {
    message: 'the SCADA data plane is not enabled on this server',
    hint: 'enable it with "scada": {"enabled": true} in the server configuration',
    fatal: false,
    http: 503,
  },

  // --- files (docs/protocol.md, 3.3 Files) ---
  GL_ERR_FILE_NOT_FOUND: {
    message: 'no such file or directory',
    hint: 'check the name with "gridlink ls"',
    fatal: false,
    http: 404,
  },
  GL_ERR_FILE_IS_DIRECTORY: {
    message: 'path is a directory, not a file',
    hint: 'name a file inside it',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_NOT_DIRECTORY: {
    message: 'a parent in the path is not a directory',
    hint: 'check the path with "gridlink ls"',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_BUSY: {
    message: 'another upload to this name is in progress',
    hint: 'wait for it to finish, then try again',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_SUPERSEDED: {
    message: 'a newer upload of this name from the same account took this one over',
    hint: 'this upload had stalled; the newer one resumes from the bytes it stored, so let that one finish',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_CHECKSUM_MISMATCH: {
    message: 'checksum of the transferred file does not match',
    hint: 'the data was corrupted or the source changed during the transfer; run the command again',
    fatal: false,
    http: 400,
  },
  GL_ERR_FILE_OFFSET_INVALID: {
    message: 'transfer offset or length does not match the file',
    hint: 'run the command again; the transfer restarts from a valid offset',
    fatal: false,
    http: 400,
  },
  GL_ERR_FILE_CHANGED: {
    message: 'the remote file changed since the interrupted download began',
    hint: 'run the command again to download the new version from the start',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_NO_SPACE: {
    message: 'the server has no space left for this file',
    hint: 'free space on the server or ask the administrator',
    fatal: false,
    http: 507,
  },
  GL_ERR_FILE_QUOTA: {
    message: 'this would exceed your quota',
    hint: 'delete files or ask an administrator for a larger quota',
    fatal: false,
    http: 413,
  },
  GL_ERR_FILE_TOO_MANY_ENTRIES: {
    message: 'this area holds as many files and directories as it may',
    hint: 'remove files or directories you no longer need, or ask an administrator to raise files.maxEntries',
    fatal: false,
    http: 413,
  },
  GL_ERR_FILE_EXISTS: {
    message: 'the target already exists',
    hint: 'pick another name or remove the existing entry first',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_NOT_EMPTY: {
    message: 'the directory is not empty',
    hint: 'remove what it holds first',
    fatal: false,
    http: 409,
  },
  GL_ERR_FILE_READ_ONLY: {
    message: 'this area is read-only',
    hint: 'log in as a user with write access, or ask the administrator to make the area writable',
    fatal: false,
    http: 403,
  },
  GL_ERR_FILE_AREA_DISABLED: {
    message: 'the anonymous file area is disabled on this server',
    hint: 'log in, or ask the administrator to enable anonymous.enabled in the config',
    fatal: true,
    http: 404,
  },
  GL_ERR_FILE_TOO_MANY_TRANSFERS: {
    message: 'too many transfers open on this connection',
    hint: 'commit or abort an open transfer before starting another',
    fatal: false,
    http: 429,
  },
  GL_ERR_FILE_IO: {
    message: 'the server could not read or write the file',
    hint: 'try again; if it persists, the administrator should check the server log',
    fatal: false,
    http: 500,
  },

  // --- server (docs/protocol.md, 5. Connection limits; docs/configuration.md) ---
  GL_ERR_SERVER_LISTEN: {
    message: 'a listener cannot start',
    hint: 'stop the program that holds the address, or move the listener in the configuration (docs/configuration.md)',
    fatal: false,
    http: 500,
  },
  GL_ERR_SERVER_BUSY: {
    message: 'the server has reached its connection limit',
    hint: 'try again shortly',
    fatal: true,
    http: 503,
  },
  GL_ERR_SERVER_SHUTTING_DOWN: {
    message: 'the server is shutting down',
    hint: 'reconnect when it is back; interrupted transfers resume',
    fatal: true,
    http: 503,
  },
  GL_ERR_SERVER_TIMEOUT: {
    message: 'connection was idle too long',
    hint: 'reconnect; interrupted transfers resume',
    fatal: true,
    http: 500,
  },
  GL_ERR_SERVER_INTERNAL: {
    message: 'internal server error',
    hint: 'the administrator should check the server log',
    fatal: true,
    http: 500,
  },

  // --- HTTP listener of the web HMI (docs/http-api.md) ---
  GL_ERR_HTTP_NOT_FOUND: {
    message: 'no such page or endpoint',
    hint: 'check the address; the API is described in docs/http-api.md',
    fatal: false,
    http: 404,
  },
  GL_ERR_HTTP_BAD_REQUEST: {
    message: 'the request is malformed',
    hint: 'check the method, query parameters and JSON body against docs/http-api.md',
    fatal: false,
    http: 400,
  },
  GL_ERR_HTTP_CSRF: {
    message: 'the request lacks the session\'s CSRF token',
    hint: 'send the header X-CSRF-Token with the "csrf" value from /api/login or /api/session',
    fatal: false,
    http: 403,
  },
  GL_ERR_HTTP_ORIGIN: {
    message: 'the request comes from another origin',
    hint: 'use the page served by this server, or add the origin to http.origins',
    fatal: false,
    http: 403,
  },
  GL_ERR_HTTP_BODY_TOO_LARGE: {
    message: 'the request body is larger than this server accepts',
    hint: 'send less; JSON bodies are limited by http.maxBodyBytes',
    fatal: false,
    http: 413,
  },
  GL_ERR_HTTP_LENGTH_REQUIRED: {
    message: 'an upload needs a Content-Length header',
    hint: 'send the file with its length (not chunked)',
    fatal: false,
    http: 411,
  },
  GL_ERR_HTTP_RANGE: {
    message: 'the requested byte range is not satisfiable',
    hint: 'ask for a range within the file\'s length',
    fatal: false,
    http: 416,
  },
  GL_ERR_HTTP_NOT_ALLOWED: {
    message: 'this address may not read this endpoint',
    hint: 'read /metrics from an address listed in http.metricsAllow',
    fatal: false,
    http: 403,
  },
  GL_ERR_HTTP_TOO_MANY_SOCKETS: {
    message: 'this session has too many live connections open',
    hint: 'close other tabs of the page, or wait for their connections to end',
    fatal: false,
    http: 429,
  },

  // --- client and CLI (README.md, Quick tour) ---
  GL_ERR_CLIENT_CONNECT: {
    message: 'cannot connect to the server',
    hint: 'check --server HOST:PORT and that "gridlink serve" is running',
    fatal: true,
    http: 400,
  },
  GL_ERR_CLIENT_CLOSED: {
    message: 'the server closed the connection unexpectedly',
    hint: 'run the command again; interrupted transfers resume',
    fatal: true,
    http: 400,
  },
  GL_ERR_CLIENT_PROTOCOL: {
    message: 'the server sent a reply this client does not understand',
    hint: 'check that --server points at a gridlink server of a compatible version',
    fatal: true,
    http: 400,
  },
  GL_ERR_CLIENT_LOCAL_FILE: {
    message: 'cannot read or write the local file',
    hint: 'check the local path and its permissions',
    fatal: false,
    http: 400,
  },
  GL_ERR_CLIENT_USAGE: {
    message: 'invalid command-line arguments',
    hint: 'run the command with --help',
    fatal: false,
    http: 400,
    usage: true,
  },
  GL_ERR_CLIENT_NO_PASSWORD: {
    message: 'no password to log in with',
    hint: 'set GRIDLINK_PASSWORD, or run the command in a terminal to be asked for it',
    fatal: false,
    http: 400,
  },

  // --- configuration (docs/configuration.md) ---
  GL_ERR_CONFIG_INVALID: {
    message: 'the configuration is invalid',
    hint: 'fix the key named in the message; see docs/configuration.md',
    fatal: true,
    http: 400,
  },
  GL_ERR_CONFIG_READ: {
    message: 'cannot read the configuration file',
    hint: 'check the path given to --config and that it holds JSON',
    fatal: true,
    http: 400,
  },
} as const satisfies Record<string, CatalogueEntry>;

/** A stable gridlink error code, e.g. `GL_ERR_FILE_NOT_FOUND`. */
export type ErrorCode = keyof typeof ENTRIES;

/** Every code with its entry, in the order docs/errors.md lists them. */
export const CATALOGUE: Readonly<Record<ErrorCode, CatalogueEntry>> = ENTRIES;

/**
 * The gridlink CLI's exit status for a failure with this code: 2 for a usage
 * error, 1 for every other failure (README.md, "Exit status"; 0 is success).
 */
export function exitCodeOf(code: ErrorCode): 1 | 2 {
  return CATALOGUE[code].usage === true ? 2 : 1;
}

/** The HTTP status of a response carrying this code (docs/http-api.md). */
export function httpStatusOf(code: ErrorCode): HttpErrorStatus {
  return CATALOGUE[code].http;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CATALOGUE, value);
}
