/**
 * The file browser of the user's home (docs/http-api.md, "Files"): list, folders, delete,
 * uploads with XHR progress, downloads streamed with fetch and progress.
 * Paths are absolute within the home ('/' is the home itself).
 */

import { ApiError, api, downloadFile, query, uploadFile, type Progress, type Transfer } from './api.js';
import { h, setText } from './dom.js';
import { formatBytes, formatDateTime, formatRate } from './format.js';
import { formatNumber, t } from './i18n.js';
import { naturalCompare } from './points.js';

interface Entry {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'link';
  readonly size: number;
  readonly mtime: number | string;
}

/** Beyond this, a download goes straight to the browser's download manager instead of memory. */
const STREAM_TO_MEMORY_LIMIT = 512 * 1024 * 1024;
const KEEP_FINISHED_TRANSFERS = 8;

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.describe() : String(err);
}

export class FileBrowser {
  readonly #list: HTMLElement;
  readonly #crumbs: HTMLElement;
  readonly #transfers: HTMLElement;
  readonly #message: HTMLElement;
  #dir = '/';
  #loading = 0;

  constructor(parts: { list: HTMLElement; crumbs: HTMLElement; transfers: HTMLElement; message: HTMLElement; upload: HTMLInputElement; mkdir: HTMLFormElement; refresh: HTMLButtonElement }) {
    this.#list = parts.list;
    this.#crumbs = parts.crumbs;
    this.#transfers = parts.transfers;
    this.#message = parts.message;
    parts.upload.addEventListener('change', () => {
      const files = [...(parts.upload.files ?? [])];
      parts.upload.value = '';
      for (const file of files) this.#upload(file);
    });
    parts.mkdir.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = parts.mkdir.elements.namedItem('name');
      if (!(input instanceof HTMLInputElement) || input.value.trim() === '') return;
      const name = input.value.trim();
      input.value = '';
      void this.#mkdir(name);
    });
    parts.refresh.addEventListener('click', () => void this.load(this.#dir));
  }

  /** Lists the folder again in the page's (new) language. */
  relabel(): void {
    void this.load(this.#dir);
  }

  async load(dir = this.#dir): Promise<void> {
    const ticket = ++this.#loading;
    let entries: Entry[];
    try {
      entries = await api<Entry[]>('GET', `/api/files${query({ path: dir })}`);
    } catch (err) {
      if (ticket === this.#loading) this.#say(t('files.cannotList', { dir, error: describe(err) }), true);
      return;
    }
    if (ticket !== this.#loading) return; // a newer listing was asked for meanwhile
    this.#dir = dir;
    this.#renderCrumbs();
    this.#renderEntries(entries);
  }

  #renderCrumbs(): void {
    const parts = this.#dir.split('/').filter((p) => p !== '');
    const crumbs: Node[] = [this.#crumb(t('files.home'), '/')];
    parts.forEach((part, i) => {
      crumbs.push(document.createTextNode(' / '), this.#crumb(part, `/${parts.slice(0, i + 1).join('/')}`));
    });
    this.#crumbs.replaceChildren(...crumbs);
    this.#crumbs.dataset['path'] = this.#dir;
  }

  #crumb(label: string, path: string): HTMLElement {
    const button = h('button', { type: 'button', class: 'link' }, label);
    button.addEventListener('click', () => void this.load(path));
    return button;
  }

  #renderEntries(entries: Entry[]): void {
    const sorted = [...entries].sort((a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || naturalCompare(a.name, b.name));
    const rows = sorted.map((entry) => {
      const path = join(this.#dir, entry.name);
      const nameCell =
        entry.type === 'dir'
          ? (() => {
              const open = h('button', { type: 'button', class: 'link dir', 'data-testid': `open-dir-${entry.name}` }, `${entry.name}/`);
              open.addEventListener('click', () => void this.load(path));
              return open;
            })()
          : h('span', { class: entry.type }, entry.name);
      const actions: HTMLElement[] = [];
      if (entry.type === 'file') {
        const download = h('button', { type: 'button', 'data-testid': `download-${entry.name}`, title: t('files.downloadTitle', { name: entry.name }) }, t('files.download'));
        download.addEventListener('click', () => this.#download(path, entry));
        actions.push(download);
      }
      const remove = h('button', { type: 'button', class: 'quiet', 'data-testid': `delete-${entry.name}`, title: t('files.deleteTitle', { name: entry.name }) }, t('files.delete'));
      remove.addEventListener('click', () => void this.#remove(path, entry));
      actions.push(remove);
      return h(
        'tr',
        { 'data-testid': `file-${entry.name}`, class: `entry ${entry.type}` },
        h('td', { class: 'name' }, nameCell),
        h('td', { class: 'size' }, entry.type === 'dir' ? '' : formatBytes(entry.size)),
        h('td', { class: 'mtime' }, formatDateTime(typeof entry.mtime === 'number' ? entry.mtime : Date.parse(entry.mtime))),
        h('td', { class: 'actions' }, ...actions),
      );
    });
    if (rows.length === 0) rows.push(h('tr', { class: 'empty' }, h('td', { colspan: 4 }, t('files.empty'))));
    if (this.#dir !== '/') {
      const up = h('button', { type: 'button', class: 'link dir', 'data-testid': 'dir-up' }, '../');
      up.addEventListener('click', () => void this.load(this.#dir.slice(0, this.#dir.lastIndexOf('/')) || '/'));
      rows.unshift(h('tr', { class: 'entry up' }, h('td', { colspan: 4 }, up)));
    }
    this.#list.replaceChildren(...rows);
  }

  #upload(file: File): void {
    const dir = this.#dir;
    const row = this.#transferRow('upload', file.name, file.size);
    const transfer = uploadFile(join(dir, file.name), file, row.progress);
    row.onCancel(transfer);
    transfer.done.then(
      (result) => {
        row.finish(t('files.uploaded', { sha: result.sha256.slice(0, 12) }), false);
        if (this.#dir === dir) void this.load(dir);
      },
      (err: unknown) => row.finish(describe(err), true),
    );
  }

  #download(path: string, entry: Entry): void {
    if (entry.size > STREAM_TO_MEMORY_LIMIT) {
      // Very large files: let the browser stream them to disk itself (its own progress UI).
      const anchor = h('a', { href: `/api/files/content${query({ path })}`, download: entry.name });
      anchor.click();
      this.#say(t('files.large', { name: entry.name }), false);
      return;
    }
    const row = this.#transferRow('download', entry.name, entry.size);
    const transfer = downloadFile(path, entry.name, row.progress);
    row.onCancel(transfer);
    transfer.done.then(
      (bytes) => row.finish(t('files.downloaded', { size: formatBytes(bytes) }), false),
      (err: unknown) => row.finish(describe(err), true),
    );
  }

  async #mkdir(name: string): Promise<void> {
    try {
      await api('POST', '/api/files/mkdir', { path: join(this.#dir, name) });
      this.#say(t('files.created', { name }), false);
      await this.load(this.#dir);
    } catch (err) {
      this.#say(t('files.cannotCreate', { name, error: describe(err) }), true);
    }
  }

  async #remove(path: string, entry: Entry): Promise<void> {
    if (!window.confirm(t(entry.type === 'dir' ? 'files.confirmDeleteDir' : 'files.confirmDelete', { name: entry.name }))) return;
    try {
      await api('DELETE', `/api/files${query({ path })}`);
      this.#say(t('files.deleted', { name: entry.name }), false);
      await this.load(this.#dir);
    } catch (err) {
      this.#say(t('files.cannotDelete', { name: entry.name, error: describe(err) }), true);
    }
  }

  #say(text: string, error: boolean): void {
    setText(this.#message, text);
    this.#message.classList.toggle('error', error);
  }

  /** A row with a progress bar, the bytes, the rate and a cancel button. */
  #transferRow(direction: 'upload' | 'download', name: string, size: number) {
    const bar = h('progress', { max: Math.max(size, 1), value: 0, 'data-testid': `progress-${direction}-${name}` });
    const text = h('span', { class: 'transfer-text' }, `0 / ${formatBytes(size)}`);
    const cancel = h('button', { type: 'button', class: 'quiet' }, t('files.cancel'));
    const row = h(
      'li',
      { class: `transfer ${direction}`, 'data-testid': `transfer-${direction}-${name}`, 'data-state': 'running' },
      h('span', { class: 'transfer-name' }, `${direction === 'upload' ? '⬆' : '⬇'} ${name}`),
      bar,
      text,
      cancel,
    );
    this.#transfers.prepend(row);
    const started = performance.now();
    const progress = ({ loaded, total }: Progress): void => {
      const max = total ?? Math.max(size, loaded, 1);
      bar.max = Math.max(max, 1);
      bar.value = loaded;
      const seconds = (performance.now() - started) / 1000;
      const percent = total === null || total === 0 ? '' : ` (${formatNumber(Math.floor((loaded / total) * 100), 0)} %)`;
      setText(text, `${formatBytes(loaded)} / ${formatBytes(max)}${percent}${seconds > 0.2 ? ` · ${formatRate(loaded / seconds)}` : ''}`);
    };
    const finish = (summary: string, failed: boolean): void => {
      row.dataset['state'] = failed ? 'failed' : 'done';
      if (!failed) bar.value = bar.max;
      setText(text, summary);
      cancel.remove();
      // Keep the last few finished transfers visible; running ones always stay.
      const finished = [...this.#transfers.children].filter((child) => (child as HTMLElement).dataset['state'] !== 'running');
      for (const old of finished.slice(KEEP_FINISHED_TRANSFERS)) old.remove();
    };
    const onCancel = <T>(transfer: Transfer<T>): void => {
      cancel.addEventListener('click', () => transfer.abort());
    };
    return { progress, finish, onCancel };
  }
}
