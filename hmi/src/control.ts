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
import { formatTime, t } from './i18n.js';
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
  readonly #confirm = h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-operate' }, t('control.confirm'));
  readonly #cancel = h('button', { type: 'button', 'data-testid': 'cancel-operate' }, t('control.cancel'));
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
    const action = request.action === 'open' ? 'open' : 'close';
    this.#view.setBusy(request.feeder, true);
    this.#setStatus('pending', t('control.selecting', { point: request.point.name }));
    let lease: SelectLease;
    try {
      lease = await api<SelectLease>('POST', pointPath(request.point.name, 'select'));
    } catch (err) {
      this.#view.setBusy(request.feeder, false);
      this.#setStatus('failed', t('control.selectRefused', { point: request.point.name, error: describe(err) }));
      return;
    }
    const leaseMs = Math.max(1, lease.expiresAt - serverNow());
    const timer = setInterval(() => this.#tick(), 250);
    this.#active = { request, lease, leaseMs, timer, operating: false, failure: null };
    setText(this.#question, t(`control.question.${action}`, { feeder: request.feeder }));
    setText(this.#detail, t('control.detail', { point: request.point.name, value: String(valueFor(request.point, request.action)), action: t(`control.action.${action}`), holder: lease.holder }));
    this.#error.hidden = true;
    this.#confirm.disabled = false;
    this.#cancel.disabled = false;
    setText(this.#cancel, t('control.cancel'));
    setText(this.#confirm, t(`control.confirm.${action}`));
    this.#tick();
    this.#dialog.showModal();
    this.#cancel.focus();
    this.#setStatus('pending', t('control.waiting', { point: request.point.name }));
  }

  #tick(): void {
    const active = this.#active;
    if (active === null) return;
    const left = active.lease.expiresAt - serverNow();
    this.#leaseBar.value = Math.max(0, left / active.leaseMs);
    if (left > 0) {
      setText(this.#lease, t('control.leaseLeft', { seconds: Math.ceil(left / 1000) }));
      return;
    }
    setText(this.#lease, t('control.leaseExpired'));
    if (!active.operating) {
      this.#confirm.disabled = true;
      setText(this.#cancel, t('control.dismiss'));
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
    setText(this.#confirm, t('control.operating'));
    this.#setStatus('pending', t('control.operatingStatus', { point: request.point.name }));
    const action = request.action === 'open' ? 'open' : 'close';
    try {
      const result = await api<OperateResult>('POST', pointPath(request.point.name, 'operate'), { value: valueFor(request.point, request.action) });
      this.#finish('ok', t(`control.done.${action}`, { feeder: request.feeder, ms: result.tookMs }));
    } catch (err) {
      active.operating = false;
      const text = t(`control.failed.${action}`, { feeder: request.feeder, error: describe(err) });
      setText(this.#error, text);
      this.#error.hidden = false;
      this.#cancel.disabled = false;
      setText(this.#cancel, t('control.dismiss'));
      setText(this.#confirm, t('control.confirm'));
      active.failure = text;
      this.#setStatus('failed', text);
    }
  }

  /** Cancel, Close or Escape: nothing (more) is sent; a failure stays on the status line. */
  #dismiss(): void {
    const active = this.#active;
    if (active === null) return;
    if (active.failure !== null) this.#finish('failed', active.failure);
    else if (active.lease.expiresAt <= serverNow()) this.#finish('cancelled', t('control.expired', { point: active.request.point.name }));
    else this.#finish('cancelled', t('control.cancelled', { point: active.request.point.name }));
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
    this.#status.title = t('control.at', { time: formatTime(Date.now()) });
    setText(this.#status, text);
  }
}
