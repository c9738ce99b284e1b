/**
 * The REST side of docs/http-api.md. Every state-changing request carries
 * the session's CSRF token; errors arrive as `{error: {code, message, hint}}`
 * and become ApiError so the panels can show the code and the server's words.
 */

import type { Role } from '../../src/accounts/roles.js';
import { describeError } from './i18n.js';

export interface Session {
  readonly user: string;
  readonly role: Role;
  readonly csrf: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }

  /** One line for a status bar: the message (localized for the codes the page knows), the hint if any, and the code. */
  describe(): string {
    return describeError(this.code, this.message, this.hint);
  }
}

let csrfToken = '';
let onUnauthorized: (() => void) | null = null;

export function setCsrf(token: string): void {
  csrfToken = token;
}

/** Called once when any request learns that the session is gone (401). */
export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

function isErrorBody(value: unknown): value is { error: { code: string; message: string; hint?: string } } {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = value.error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/** Turns a failed response (status and body text) into an ApiError. */
export function errorFrom(status: number, text: string): ApiError {
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: a proxy page or an empty body; fall through to the status text
  }
  if (isErrorBody(body)) return new ApiError(status, body.error.code, body.error.message, body.error.hint ?? null);
  return new ApiError(status, `HTTP_${status}`, text.trim().slice(0, 200) || `HTTP ${status}`);
}

function headers(method: string, json: boolean): Record<string, string> {
  const result: Record<string, string> = { Accept: 'application/json' };
  if (json) result['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') result['X-CSRF-Token'] = csrfToken;
  return result;
}

/** A JSON request; resolves to the parsed body (undefined for 204). */
export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: headers(method, body !== undefined),
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the server cannot be reached (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!response.ok) {
    const error = errorFrom(response.status, await response.text());
    if (response.status === 401 && path !== '/api/login' && path !== '/api/session') onUnauthorized?.();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** `?a=1&b=2` from defined values. */
export function query(params: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export interface Progress {
  readonly loaded: number;
  /** Null when the size is not known in advance. */
  readonly total: number | null;
}

export interface Transfer<T> {
  readonly done: Promise<T>;
  abort(): void;
}

/**
 * PUT of a file's bytes with upload progress. XMLHttpRequest, because fetch
 * still has no upload progress events in browsers.
 */
export function uploadFile(path: string, file: Blob, onProgress: (progress: Progress) => void): Transfer<{ path: string; size: number; sha256: string }> {
  const xhr = new XMLHttpRequest();
  const done = new Promise<{ path: string; size: number; sha256: string }>((resolve, reject) => {
    xhr.open('PUT', `/api/files/content${query({ path })}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.upload.addEventListener('progress', (event) => {
      onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ loaded: file.size, total: file.size });
        try {
          resolve(JSON.parse(xhr.responseText) as { path: string; size: number; sha256: string });
        } catch {
          reject(new ApiError(xhr.status, 'BAD_REPLY', 'the server answered the upload with something that is not JSON'));
        }
      } else {
        if (xhr.status === 401) onUnauthorized?.();
        reject(errorFrom(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'the upload was cut off')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'ABORTED', 'upload cancelled')));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * GET of a file's bytes as a stream, reporting progress as chunks arrive,
 * then handed to the browser as a download.
 */
export function downloadFile(path: string, name: string, onProgress: (progress: Progress) => void): Transfer<number> {
  const controller = new AbortController();
  const done = (async () => {
    let response: Response;
    try {
      response = await fetch(`/api/files/content${query({ path })}`, { credentials: 'same-origin', signal: controller.signal });
    } catch (err) {
      throw controller.signal.aborted ? new ApiError(0, 'ABORTED', 'download cancelled') : new ApiError(0, 'NETWORK', `the download failed (${String(err)})`);
    }
    if (!response.ok) {
      if (response.status === 401) onUnauthorized?.();
      throw errorFrom(response.status, await response.text());
    }
    const length = Number(response.headers.get('Content-Length'));
    const total = Number.isFinite(length) && length > 0 ? length : null;
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    onProgress({ loaded, total });
    if (response.body === null) throw new ApiError(response.status, 'BAD_REPLY', 'the download has no body');
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done: finished, value } = await reader.read();
        if (finished) break;
        chunks.push(value);
        loaded += value.byteLength;
        onProgress({ loaded, total });
      }
    } catch (err) {
      throw controller.signal.aborted ? new ApiError(0, 'ABORTED', 'download cancelled') : new ApiError(0, 'NETWORK', `the download was cut off (${String(err)})`);
    }
    if (total !== null && loaded !== total) throw new ApiError(0, 'SHORT', `received ${loaded} of ${total} bytes`);
    saveBlob(new Blob(chunks as BlobPart[], { type: 'application/octet-stream' }), name);
    return loaded;
  })();
  return { done, abort: () => controller.abort() };
}

function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = name;
  anchor.style.display = 'none';
  document.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  // The browser has taken its reference once the click has been handled.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
