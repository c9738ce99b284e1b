/**
 * The operator's page (docs/http-api.md): log in, then the live substation
 * first, with trends and the sequence of events as other views, alarms at
 * the side (blinking and sounding until acknowledged), chat and files in a
 * tabbed panel below them; all fed by one WebSocket and the REST API of
 * docs/http-api.md. What a role may do is enforced by the server; the page
 * only mirrors it (viewers see the controls disabled). Every string is in
 * English and Chinese (i18n.ts).
 */

import type { DeviceStatus, PointSnapshot } from '../../src/protocol/scada.js';
import { AlarmList } from './alarms.js';
import { ApiError, api, setCsrf, whenUnauthorized, type Session } from './api.js';
import { ChatPanel } from './chat.js';
import { noteServerTime, serverNow } from './clock.js';
import { ControlPanel } from './control.js';
import { byId, setText } from './dom.js';
import { FileBrowser } from './files.js';
import { applyStatic, formatClock, locale, onLocaleChange, setLocale, t, type Locale } from './i18n.js';
import { LiveConnection, type LinkState, type ServerMessage } from './live.js';
import { SoeView } from './soe.js';
import { AlarmSound } from './sound.js';
import { SubstationView } from './substation.js';
import { TrendView } from './trends.js';

const DEVICE_REFRESH_MS = 15_000;
/** Kept in sessionStorage across the reload that follows the end of a session; a message key, shown in the language of the moment. */
const LOGIN_MESSAGE_KEY = 'gridlink.loginMessage';

type View = 'substation' | 'trends' | 'soe';
type Dock = 'chat' | 'files';

function describe(err: unknown): string {
  return err instanceof ApiError ? err.describe() : String(err);
}

/** Both language menus (login and header) show the language and switch it. */
function setupLanguage(): void {
  const menus = document.querySelectorAll<HTMLSelectElement>('select.lang-switch');
  const sync = (): void => {
    for (const menu of menus) menu.value = locale();
  };
  for (const menu of menus) {
    menu.addEventListener('change', () => {
      setLocale(menu.value === 'zh-CN' ? 'zh-CN' : ('en' satisfies Locale));
      sync();
    });
  }
  sync();
  applyStatic(document);
}

let loginMessage: { key: 'login.wrong' | 'login.ended' } | { text: string } | null = null;

function showLogin(message: typeof loginMessage): void {
  loginMessage = message;
  byId('app-view').hidden = true;
  byId('login-view').hidden = false;
  renderLoginMessage();
  byId<HTMLInputElement>('login-user').focus();
}

function renderLoginMessage(): void {
  const error = byId('login-error');
  const text = loginMessage === null ? '' : 'key' in loginMessage ? t(loginMessage.key) : loginMessage.text;
  setText(error, text);
  error.hidden = text === '';
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
      .catch((err: unknown) => showLogin(err instanceof ApiError && err.status === 401 ? { key: 'login.wrong' } : { text: describe(err) }))
      .finally(() => {
        submit.disabled = false;
      });
  });
  onLocaleChange(renderLoginMessage);
}

/** The header clock: the server's time as the page estimates it (clock.ts), in the page's language. */
function startClock(): void {
  const clock = byId('clock');
  const date = clock.querySelector('.date');
  const time = clock.querySelector('.time');
  const tick = (): void => {
    const now = serverNow();
    const shown = formatClock(now);
    if (date !== null) setText(date, shown.date);
    if (time !== null) setText(time, shown.time);
    clock.setAttribute('datetime', new Date(now).toISOString());
    setTimeout(tick, 1_000 - (Date.now() % 1_000) + 5);
  };
  tick();
  onLocaleChange(tick);
}

function start(session: Session): void {
  setCsrf(session.csrf);
  byId('login-view').hidden = true;
  byId('app-view').hidden = false;
  const canOperate = session.role !== 'viewer';
  document.body.dataset['role'] = session.role;
  setText(byId('user-name'), session.user);
  const role = byId('role');
  const showRole = (): void => {
    setText(role, t(`role.${session.role}`));
  };
  showRole();
  role.dataset['role'] = session.role;
  byId('role-note').hidden = canOperate;
  const notice = byId('notice');
  startClock();

  // --- views: substation (first), trends, sequence of events ---
  let trends: TrendView | null = null;
  let soe: SoeView | null = null;
  let currentView: View = 'substation';
  const showView = (view: View): void => {
    currentView = view;
    for (const name of ['substation', 'trends', 'soe'] as const) {
      byId(`view-${name}`).hidden = name !== view;
      byId(`tab-${name}`).setAttribute('aria-selected', String(name === view));
    }
    if (view === 'trends') trends?.show();
    else trends?.hide();
    if (view === 'soe') soe?.show();
    else soe?.hide();
  };
  for (const tab of document.querySelectorAll<HTMLButtonElement>('.view-tabs [data-view]')) {
    tab.addEventListener('click', () => showView(tab.dataset['view'] as View));
  }

  const view = new SubstationView(
    byId('points'),
    (request) => void control.request(request),
    (point) => {
      trends?.add(point);
      showView('trends');
    },
  );
  view.setCanOperate(canOperate);
  const control = new ControlPanel(byId<HTMLDialogElement>('confirm-dialog'), byId('command-status'), view);
  trends = new TrendView(
    {
      form: byId<HTMLFormElement>('trend-form'),
      input: byId<HTMLInputElement>('trend-point'),
      datalist: byId<HTMLDataListElement>('trend-points'),
      list: byId('trend-series'),
      chart: byId('trend-chart'),
      range: byId('trend-range'),
      status: byId('trend-status'),
      presets: byId('trend-presets'),
      back: byId<HTMLButtonElement>('trend-back'),
      forward: byId<HTMLButtonElement>('trend-forward'),
      zoomOut: byId<HTMLButtonElement>('trend-zoom-out'),
      live: byId<HTMLButtonElement>('trend-live'),
    },
    () => view.points(),
  );
  soe = new SoeView({ form: byId<HTMLFormElement>('soe-form'), body: byId('soe-body'), status: byId('soe-status'), more: byId<HTMLButtonElement>('soe-more') }, (name) => view.point(name));

  // --- dock: chat and files ---
  const showDock = (dock: Dock): void => {
    for (const name of ['chat', 'files'] as const) {
      byId(`dock-${name}`).hidden = name !== dock;
      byId(`tab-${name}`).setAttribute('aria-selected', String(name === dock));
    }
  };
  for (const tab of document.querySelectorAll<HTMLButtonElement>('.dock-tabs [data-dock]')) {
    tab.addEventListener('click', () => showDock(tab.dataset['dock'] as Dock));
  }
  showDock('chat');

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
  const sound = new AlarmSound(byId<HTMLButtonElement>('sound'));
  const alarms = new AlarmList(
    byId('alarm-body'),
    byId('alarm-count'),
    byId('alarm-message'),
    () => refreshDevices(300),
    (ids) => sound.update(ids),
  );
  alarms.setCanAck(canOperate);
  const chat = new ChatPanel({
    log: byId('chat-log'),
    members: byId('chat-members'),
    form: byId<HTMLFormElement>('chat-form'),
    input: byId<HTMLInputElement>('chat-input'),
    nick: byId('chat-nick'),
    roomName: byId('chat-room-name'),
    tabs: byId('chat-rooms'),
    roomForm: byId<HTMLFormElement>('room-form'),
    roomList: byId<HTMLDataListElement>('room-list'),
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
    sessionStorage.setItem(LOGIN_MESSAGE_KEY, 'login.ended');
    location.reload();
  };
  const linkState = byId('link-state');
  let link: { state: LinkState; detail: string } = { state: 'connecting', detail: t('link.connecting') };
  const showLink = (): void => {
    linkState.dataset['state'] = link.state;
    setText(linkState, link.state === 'offline' ? link.detail : t(`link.${link.state}`));
  };
  const live = new LiveConnection({
    opened: () => {
      live.send({ op: 'subscribe', points: '>' });
      live.send({ op: 'alarms' });
      chat.join();
      // Alarms raised while we were away: the WebSocket only sends changes.
      void alarms.load();
    },
    state: (state, detail) => {
      link = { state, detail };
      showLink();
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
          trends?.live(message.point);
          break;
        case 'alarm':
          alarms.update([message.alarm]);
          break;
        case 'chat':
          chat.event(message.event);
          break;
        case 'joined':
          chat.joined(message.room, message.nick, message.members);
          break;
        case 'left':
          chat.left(message.room);
          break;
        case 'error':
          if (!chat.handleError(message.code, message.message)) setText(notice, `${message.message} (${message.code})`);
          break;
      }
    },
  });
  chat.attach(live, session.user);

  onLocaleChange(() => {
    showRole();
    showLink();
    view.relabel();
    alarms.relabel();
    sound.relabel();
    chat.relabel();
    files.relabel();
    trends?.relabel();
    soe?.relabel();
  });

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
    .then((points) => {
      view.update(points);
      if (currentView === 'trends') trends?.show();
    })
    .catch((err: unknown) => setText(notice, t('points.unavailable', { error: describe(err) })));
  refreshDevices(0);
  void files.load('/');
  // The substation first, always: what an operator needs to see on opening the page.
  showView('substation');
}

async function boot(): Promise<void> {
  setupLanguage();
  setupLogin();
  const message = sessionStorage.getItem(LOGIN_MESSAGE_KEY);
  sessionStorage.removeItem(LOGIN_MESSAGE_KEY);
  try {
    start(await api<Session>('GET', '/api/session'));
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? (message === 'login.ended' ? { key: 'login.ended' } : null) : { text: describe(err) });
  }
}

void boot();
