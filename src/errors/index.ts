export { CATALOGUE, isErrorCode, type ErrorCode } from './catalogue.js';
export { GridlinkError, fromSystemError } from './gridlink-error.js';
