import type { Frame } from '../../codec/index.js';
import { GridlinkError, fromSystemError } from '../../errors/index.js';
import { Download } from '../../services/files/download.js';
import type { FileService } from '../../services/files/file-service.js';
import { printable } from '../../services/files/path-rules.js';
import type { Session } from '../session.js';

/**
 * The course's simulated-FTP protocol, exactly (docs/protocol.md §2): `put`
 * stores with no reply, `get` replies `{"name","size","cmd":"get"}` and the
 * bytes, and any error is an error frame followed by closing the connection.
 * Works on the anonymous area only.
 */
export function createLegacyHandler(files: FileService) {
  return async (session: Session, frame: Frame): Promise<void> => {
    try {
      await handleLegacy(files, session, frame);
    } catch (err) {
      const error = err instanceof GridlinkError ? err : fromSystemError(err, 'legacy request');
      session.logger.info({ event: 'legacy.error', cmd: frame.header.cmd, code: error.code, detail: error.detail });
      session.close(error);
    }
  };
}

async function handleLegacy(files: FileService, session: Session, frame: Frame): Promise<void> {
  const { header, body } = frame;
  const area = files.legacyArea();
  const name = header['name'];
  if (header.cmd !== 'put' && header.cmd !== 'get') {
    throw new GridlinkError('GL_ERR_PROTO_UNKNOWN_CMD', `${JSON.stringify(header.cmd.slice(0, 64))}; the legacy protocol has put and get`);
  }
  if (typeof name !== 'string') throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', '"name" must be a string');
  const path = area.resolve(name, '', false);

  if (header.cmd === 'get') {
    if (body !== null) throw new GridlinkError('GL_ERR_PROTO_UNEXPECTED_BODY', 'get');
    const download = await Download.open(area, path, { offset: 0 });
    try {
      await files.track(() => session.send({ name, size: download.size, cmd: 'get' }, download.body()));
    } finally {
      await download.close();
    }
    session.logger.info({ event: 'legacy.get', path: printable(path), bytes: download.size });
    return;
  }

  if (body === null) throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', 'put needs "size" and the file bytes');
  await files.storeLegacy({ ...session.actor, identity: null, front: 'legacy' }, path, body, frame.bodySize);
}
