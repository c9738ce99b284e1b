/**
 * Select-before-operate from the page (docs/http-api.md, "Points, history, alarms, control"): select takes the lease,
 * a dialog asks for confirmation while the lease counts down, operate sends
 * the command and waits for the status feedback. Cancel, Escape or an
 * expired lease release it; the outcome stays visible in the status line.
 */

import type { OperateResult, SelectLease } from '../../src/protocol/scada.js';
import { ApiError, api } from './api.js';
import { serverNow } from './clock.js';
import { h, setText } from './dom.js';
import { valueFor } from './points.js';
import type { CommandRequest, SubstationView } from './substation.js';

type Outcome = 'pending' | 'ok' | 'failed' | 'cancelled';

function pointPath(name: string, action: 'select' | 'deselect' | 'operate'): string {
  return `/api/points/${encodeURIComponent(name)}/${action}`;
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.describe() : String(err);
}

export class ControlPanel {
  readonly #dialog: HTMLDialogElement;
  readonly #status: HTMLElement;
  readonly #view: SubstationView;
  readonly #question = h('h3', { 'data-testid': 'confirm-question' });
  readonly #detail = h('p', { class: 'detail', 'data-testid': 'confirm-detail' });
  readonly #lease = h('p', { class: 'lease', 'data-testid': 'lease-countdown' });
  readonly #leaseBar = h('progress', { class: 'lease-bar', max: 1, value: 1 });
  readonly #error = h('p', { class: 'error', 'data-testid': 'operate-error', hidden: true });
  readonly #confirm = h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-operate' }, 'Confirm');
  readonly #cancel = h('button', { type: 'button', 'data-testid': 'cancel-operate' }, 'Cancel');
  #active: { request: CommandRequest; lease: SelectLease; leaseMs: number; timer: ReturnType<typeof setInterval>; operating: boolean; failure: string | null } | null = null;

  constructor(dialog: HTMLDialogElement, status: HTMLElement, view: SubstationView) {
    this.#dialog = dialog;
    this.#status = status;
    this.#view = view;
    dialog.replaceChildren(
      h(
        'form',
        { method: 'dialog', class: 'confirm' },
        this.#question,
        this.#detail,
        this.#leaseBar,
        this.#lease,
        this.#error,
        h('div', { class: 'buttons' }, this.#cancel, this.#confirm),
      ),
    );
    this.#confirm.addEventListener('click', (event) => {
      event.preventDefault();
      void this.#operate();
    });
    this.#cancel.addEventListener('click', (event) => {
      event.preventDefault();
      this.#dismiss();
    });
    // Escape closes a modal dialog: treat it as Cancel, unless a command is on its way.
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      if (this.#active?.operating !== true) this.#dismiss();
    });
  }

  /** Select, then ask. Only one command at a time. */
  async request(request: CommandRequest): Promise<void> {
    if (this.#active !== null) return;
    const verb = request.action === 'open' ? 'Open' : 'Close';
    this.#view.setBusy(request.feeder, true);
    this.#setStatus('pending', `Selecting ${request.point.name}…`);
    let lease: SelectLease;
    try {
      lease = await api<SelectLease>('POST', pointPath(request.point.name, 'select'));
    } catch (err) {
      this.#view.setBusy(request.feeder, false);
      this.#setStatus('failed', `Select of ${request.point.name} refused: ${describe(err)}`);
      return;
    }
    const leaseMs = Math.max(1, lease.expiresAt - serverNow());
    const timer = setInterval(() => this.#tick(), 250);
    this.#active = { request, lease, leaseMs, timer, operating: false, failure: null };
    setText(this.#question, `${verb} breaker ${request.feeder}?`);
    setText(this.#detail, `Command ${request.point.name} ← ${valueFor(request.point, request.action)} (${request.action}). Selected by ${lease.holder}; no one else can operate it until the lease ends.`);
    this.#error.hidden = true;
    this.#confirm.disabled = false;
    this.#cancel.disabled = false;
    setText(this.#cancel, 'Cancel');
    setText(this.#confirm, `Confirm: ${verb.toLowerCase()}`);
    this.#tick();
    this.#dialog.showModal();
    this.#cancel.focus();
    this.#setStatus('pending', `${request.point.name} selected — waiting for confirmation.`);
  }

  #tick(): void {
    const active = this.#active;
    if (active === null) return;
    const left = active.lease.expiresAt - serverNow();
    this.#leaseBar.value = Math.max(0, left / active.leaseMs);
    if (left > 0) {
      setText(this.#lease, `Lease expires in ${Math.ceil(left / 1000)} s`);
      return;
    }
    setText(this.#lease, 'Lease expired — select again to operate.');
    if (!active.operating) {
      this.#confirm.disabled = true;
      setText(this.#cancel, 'Close');
    }
  }

  async #operate(): Promise<void> {
    const active = this.#active;
    if (active === null || active.operating) return;
    const { request } = active;
    active.operating = true;
    this.#confirm.disabled = true;
    this.#cancel.disabled = true;
    this.#error.hidden = true;
    setText(this.#confirm, 'Operating…');
    this.#setStatus('pending', `Operating ${request.point.name}: waiting for the status feedback…`);
    try {
      const result = await api<OperateResult>('POST', pointPath(request.point.name, 'operate'), { value: valueFor(request.point, request.action) });
      this.#finish('ok', `${request.feeder} breaker ${request.action.toUpperCase()} — confirmed by the status feedback in ${result.tookMs} ms.`);
    } catch (err) {
      active.operating = false;
      const text = `${request.action === 'open' ? 'Open' : 'Close'} ${request.feeder} failed: ${describe(err)}`;
      setText(this.#error, text);
      this.#error.hidden = false;
      this.#cancel.disabled = false;
      setText(this.#cancel, 'Close');
      setText(this.#confirm, 'Confirm');
      active.failure = text;
      this.#setStatus('failed', text);
    }
  }

  /** Cancel, Close or Escape: nothing (more) is sent; a failure stays on the status line. */
  #dismiss(): void {
    const active = this.#active;
    if (active === null) return;
    if (active.failure !== null) this.#finish('failed', active.failure);
    else if (active.lease.expiresAt <= serverNow()) this.#finish('cancelled', `Lease on ${active.request.point.name} expired; nothing was sent.`);
    else this.#finish('cancelled', `Command cancelled; ${active.request.point.name} released, nothing was sent.`);
  }

  #finish(outcome: Outcome, text: string): void {
    const active = this.#active;
    if (active === null) return;
    this.#active = null;
    clearInterval(active.timer);
    if (this.#dialog.open) this.#dialog.close();
    this.#view.setBusy(active.request.feeder, false);
    // Release the lease whatever happened (a no-op when it is no longer ours).
    api('POST', pointPath(active.request.point.name, 'deselect')).catch(() => undefined);
    this.#setStatus(outcome, text);
  }

  #setStatus(outcome: Outcome, text: string): void {
    this.#status.dataset['outcome'] = outcome;
    this.#status.title = `at ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
    setText(this.#status, text);
  }
}
