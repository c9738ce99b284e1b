export { CATALOGUE, exitCodeOf, httpStatusOf, isErrorCode, type CatalogueEntry, type ErrorCode, type HttpErrorStatus } from './catalogue.js';
export { GridlinkError, fromSystemError } from './gridlink-error.js';
