export { GridlinkClient, type TransferOptions } from './gridlink-client.js';
export { FrameConnection, type ConnectOptions } from './frame-connection.js';
export { legacyGet, legacyPut } from './legacy-client.js';
export type { WatchListeners } from './scada-client.js';
export type { ProgressListener, TransferProgress, TransferResult } from './transfer-progress.js';
