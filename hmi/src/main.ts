/**
 * The operator's page (docs/http-api.md): log in, then the live substation, alarms,
 * chat and files, all fed by one WebSocket and the REST API of
 * docs/http-api.md. What a role may do is enforced by the server; the page
 * only mirrors it (viewers see the controls disabled).
 */

import type { DeviceStatus, PointSnapshot } from '../../src/protocol/scada.js';
import { AlarmList } from './alarms.js';
import { ApiError, api, setCsrf, whenUnauthorized, type Session } from './api.js';
import { ChatPanel } from './chat.js';
import { noteServerTime } from './clock.js';
import { ControlPanel } from './control.js';
import { byId, setText } from './dom.js';
import { FileBrowser } from './files.js';
import { LiveConnection, type ServerMessage } from './live.js';
import { SubstationView } from './substation.js';

const ROOM = 'lobby';
const DEVICE_REFRESH_MS = 15_000;
const LOGIN_MESSAGE_KEY = 'gridlink.loginMessage';

function describe(err: unknown): string {
  return err instanceof ApiError ? err.describe() : String(err);
}

function showLogin(message: string): void {
  byId('app-view').hidden = true;
  byId('login-view').hidden = false;
  const error = byId('login-error');
  setText(error, message);
  error.hidden = message === '';
  byId<HTMLInputElement>('login-user').focus();
}

function setupLogin(): void {
  const form = byId<HTMLFormElement>('login-form');
  const submit = byId<HTMLButtonElement>('login-submit');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = byId<HTMLInputElement>('login-user').value.trim();
    const password = byId<HTMLInputElement>('login-password').value;
    if (user === '' || password === '') return;
    submit.disabled = true;
    api<Session>('POST', '/api/login', { user, password })
      .then((session) => {
        byId<HTMLInputElement>('login-password').value = '';
        start(session);
      })
      .catch((err: unknown) => showLogin(err instanceof ApiError && err.status === 401 ? 'Wrong user name or password.' : describe(err)))
      .finally(() => {
        submit.disabled = false;
      });
  });
}

function start(session: Session): void {
  setCsrf(session.csrf);
  byId('login-view').hidden = true;
  byId('app-view').hidden = false;
  const canOperate = session.role !== 'viewer';
  document.body.dataset['role'] = session.role;
  setText(byId('user-name'), session.user);
  const role = byId('role');
  setText(role, session.role);
  role.dataset['role'] = session.role;
  byId('role-note').hidden = canOperate;
  const notice = byId('notice');

  const view = new SubstationView(byId('points'), (request) => void control.request(request));
  view.setCanOperate(canOperate);
  const control = new ControlPanel(byId<HTMLDialogElement>('confirm-dialog'), byId('command-status'), view);

  let deviceTimer: ReturnType<typeof setTimeout> | null = null;
  const refreshDevices = (delayMs: number): void => {
    if (deviceTimer !== null) clearTimeout(deviceTimer);
    deviceTimer = setTimeout(() => {
      api<DeviceStatus[]>('GET', '/api/devices')
        .then((devices) => view.setDevices(devices))
        .catch(() => undefined) // the badge keeps its last state; points show their own quality
        .finally(() => refreshDevices(DEVICE_REFRESH_MS));
    }, delayMs);
  };
  const alarms = new AlarmList(byId('alarm-body'), byId('alarm-count'), byId('alarm-message'), () => refreshDevices(300));
  alarms.setCanAck(canOperate);
  const chat = new ChatPanel(ROOM, {
    log: byId('chat-log'),
    members: byId('chat-members'),
    form: byId<HTMLFormElement>('chat-form'),
    input: byId<HTMLInputElement>('chat-input'),
    nick: byId('chat-nick'),
  });
  const files = new FileBrowser({
    list: byId('file-list'),
    crumbs: byId('file-path'),
    transfers: byId('transfers'),
    message: byId('file-message'),
    upload: byId<HTMLInputElement>('file-upload'),
    mkdir: byId<HTMLFormElement>('mkdir-form'),
    refresh: byId<HTMLButtonElement>('file-refresh'),
  });

  let ending = false;
  const sessionEnded = (): void => {
    if (ending) return;
    ending = true;
    live.close();
    sessionStorage.setItem(LOGIN_MESSAGE_KEY, 'Your session has ended; please log in again.');
    location.reload();
  };
  const linkState = byId('link-state');
  const live = new LiveConnection({
    opened: () => {
      live.send({ op: 'subscribe', points: '>' });
      live.send({ op: 'alarms' });
      chat.join();
      // Alarms raised while we were away: the WebSocket only sends changes.
      void alarms.load();
    },
    state: (state, detail) => {
      linkState.dataset['state'] = state;
      setText(linkState, detail);
      // A refused upgrade looks like any other drop: ask whether the session is still there.
      if (state === 'offline') {
        api<Session>('GET', '/api/session').catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 401) sessionEnded();
        });
      }
    },
    sessionEnded: () => sessionEnded(),
    message: (message: ServerMessage) => {
      switch (message.type) {
        case 'point':
          noteServerTime(message.point.serverTime);
          view.update([message.point]);
          break;
        case 'alarm':
          alarms.update([message.alarm]);
          break;
        case 'chat':
          chat.event(message.event);
          break;
        case 'joined':
          chat.joined(message.nick, message.members);
          break;
        case 'error':
          if (!chat.handleError(message.code, message.message)) setText(notice, `${message.message} (${message.code})`);
          break;
      }
    },
  });
  chat.attach(live, session.user);

  whenUnauthorized(() => sessionEnded());
  byId('logout').addEventListener('click', () => {
    live.close();
    api('POST', '/api/logout')
      .catch(() => undefined)
      .finally(() => location.reload());
  });

  live.open();
  // The WebSocket's first reply is a full snapshot too; this just paints sooner.
  api<PointSnapshot[]>('GET', '/api/points')
    .then((points) => view.update(points))
    .catch((err: unknown) => setText(notice, `Points unavailable: ${describe(err)}`));
  refreshDevices(0);
  void files.load('/');
}

async function boot(): Promise<void> {
  setupLogin();
  const message = sessionStorage.getItem(LOGIN_MESSAGE_KEY) ?? '';
  sessionStorage.removeItem(LOGIN_MESSAGE_KEY);
  try {
    start(await api<Session>('GET', '/api/session'));
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? message : describe(err));
  }
}

void boot();
