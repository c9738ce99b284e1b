import type { Logger } from 'pino';
import type { AuditLog } from '../accounts/audit-log.js';
import type { GridlinkDatabase } from '../accounts/database.js';
import type { UserStore } from '../accounts/user-store.js';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import { GridlinkError } from '../errors/index.js';
import type { ScadaApi } from '../protocol/scada.js';
import type { ServerStatus } from '../protocol/server-status.js';
import type { AuthService } from '../services/auth/auth-service.js';
import type { ChatRooms } from '../services/chat/chat-rooms.js';
import type { FileService } from '../services/files/file-service.js';
import type { SessionStore } from './sessions.js';

/** What the web HMI uses of the rest of the server (GridlinkServer passes these). */
export interface WebDeps {
  readonly config: Config['http'];
  readonly logger: Logger;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** The accounts database the server opened (users, audit, web sessions): sessions persist in it, the SOE view reads commands from it. */
  readonly database: GridlinkDatabase;
  readonly auth: AuthService;
  readonly files: FileService;
  readonly chat: ChatRooms;
  readonly bus: Bus;
  readonly status: () => ServerStatus;
  /** The SCADA data plane, or null when it does not run. */
  readonly scada: () => ScadaApi | null;
}

/** What every route module gets. */
export interface WebContext extends WebDeps {
  readonly sessions: SessionStore;
  /** The listener speaks TLS. */
  readonly secure: boolean;
}

/** The data plane, or GL_ERR_SCADA_DISABLED (503) when it does not run. */
export function scadaOf(ctx: WebContext): ScadaApi {
  const scada = ctx.scada();
  if (scada === null) throw new GridlinkError('GL_ERR_SCADA_DISABLED');
  return scada;
}
