import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { GridlinkServer } from '../server/gridlink-server.js';
import { VERSION } from '../version.js';

function at(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

/**
 * What `gridlink serve` prints first on a terminal (README.md "Running the
 * server"): what listens where, the one-time admin password if this start
 * created it, then where the log follows. Not printed when stdout is not a
 * terminal: the JSON log's `server.started` line says the same for machines.
 */
export function serveSummary(server: Pick<GridlinkServer, 'config' | 'nativeAddress' | 'httpAddress' | 'ftpAddress' | 'iec104Address' | 'legacyChatAddress' | 'scada' | 'initialAdminPassword'>): string {
  const { config } = server;
  const rows: Array<[string, string]> = [[`native protocol${config.native.tls === undefined ? '' : ' (TLS)'}`, at(server.nativeAddress)]];
  const http = server.httpAddress;
  if (http !== null) rows.push(['web HMI', `${config.http.tls === undefined ? 'http' : 'https'}://${at(http)}/`]);
  const ftp = server.ftpAddress;
  if (ftp !== null) rows.push([`FTP${config.ftp.tls === undefined ? '' : ' (explicit TLS)'}`, `ftp://${at(ftp)}`]);
  const iec104 = server.iec104Address;
  if (iec104 !== null) rows.push([`IEC 104 station${config.iec104.tls === undefined ? '' : ' (TLS)'}`, at(iec104)]);
  const legacy = server.legacyChatAddress;
  if (legacy !== null) rows.push(['legacy chat (UDP)', at(legacy)]);
  const simulator = server.scada?.simulatorAddress ?? null;
  if (simulator !== null) rows.push(['Modbus simulator', at(simulator)]);
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = [`gridlink ${VERSION} is serving; data in ${resolve(config.dataDir)}`, ...rows.map(([name, where]) => `  ${name.padEnd(width)}  ${where}`)];
  if (server.initialAdminPassword !== null) {
    lines.push(
      '',
      `  created user "admin" with password ${server.initialAdminPassword}`,
      `  (shown this once; also in ${resolve(config.dataDir, 'initial-admin-password')}, mode 0600;`,
      '  change it with "gridlink admin user passwd admin")',
    );
  }
  lines.push('', 'Log follows; Ctrl-C stops the server.', '');
  return `${lines.join('\n')}\n`;
}
