import type { Bus, Subscription } from '../../bus/bus.js';
import { checkPattern } from '../../bus/topics.js';
import { encodeHeader } from '../../codec/index.js';
import { GridlinkError } from '../../errors/index.js';
import type { CommandTable } from '../router.js';
import type { Session } from '../session.js';
import { pageOf, type Page } from '../reply-pages.js';
import type { UserActor } from '../../accounts/actor.js';
import type { Alarm, ScadaApi, PointEvent, PointSnapshot } from '../../protocol/scada.js';

/** Events a watcher may have waiting before the oldest are dropped (the newest value matters most). */
const WATCH_QUEUE = 10_000;
const DEFAULT_LIMIT = 10_000;

/**
 * The data plane on the native protocol (docs/protocol.md §3.6): points,
 * devices, history, events, alarms, select/operate, and `watch`, which pushes
 * `point.event` frames (and `alarm.event` frames) in event order until
 * `unwatch` or the connection ends. Every command needs a login; a
 * connection's selections end with it.
 */
export function scadaCommands(scada: ScadaApi | null, bus: Bus): CommandTable {
  const watches = new WeakMap<Session, Subscription[]>();
  // An event reaches every watcher: encode its frame once.
  const encoded = new WeakMap<object, Buffer>();
  const frameOf = (message: PointEvent | Alarm, cmd: 'point.event' | 'alarm.event'): Buffer => {
    let frame = encoded.get(message);
    if (frame === undefined) {
      frame = encodeHeader(cmd === 'point.event' ? { v: 1, cmd, ...message } : { v: 1, cmd, alarm: message });
      encoded.set(message, frame);
    }
    return frame;
  };
  const released = new WeakSet<Session>();
  const watched = new WeakSet<Session>();

  const actorOf = (session: Session): { service: ScadaApi; actor: UserActor } => {
    if (scada === null) throw new GridlinkError('GL_ERR_SCADA_DISABLED');
    const actor = session.actor;
    const identity = actor.identity;
    if (identity === null) throw new GridlinkError('GL_ERR_AUTH_REQUIRED');
    if (!released.has(session)) {
      released.add(session);
      session.onClose(() => scada.releaseConnection(actor.connection));
    }
    return { service: scada, actor: { ...actor, identity } };
  };
  const unwatch = (session: Session): void => {
    for (const subscription of watches.get(session) ?? []) subscription.unsubscribe();
    watches.delete(session);
  };
  const now = (): number => Date.now();

  return {
    points: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const page = pageOf(service.points(patternOf(ctx.fields.pattern)), ctx.fields.offset);
      await ctx.reply({ points: page.items, next: page.next });
    },
    devices: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const page = pageOf(service.devices(), ctx.fields.offset);
      await ctx.reply({ devices: page.items, next: page.next });
    },
    history: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const { point, since, until, limit = DEFAULT_LIMIT, offset = 0 } = ctx.fields;
      const { items, next } = rowsPage(offset, limit, (want) => service.history(point, since, until ?? now() + 1, want, offset));
      await ctx.reply({ point, samples: items, next });
    },
    events: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const { since, until, limit = DEFAULT_LIMIT, pattern, offset = 0 } = ctx.fields;
      const { items, next } = rowsPage(offset, limit, (want) => service.events(since, until ?? now() + 1, want, patternOf(pattern), offset));
      await ctx.reply({ events: items, next });
    },
    alarms: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const page = pageOf(service.alarms({ includeCleared: ctx.fields.all === true }), ctx.fields.offset);
      await ctx.reply({ alarms: page.items, next: page.next });
    },
    'alarm.ack': async (ctx) => {
      const { service, actor } = actorOf(ctx.session);
      await ctx.reply({ alarm: await service.acknowledge(actor, ctx.fields.alarm) });
    },
    select: async (ctx) => {
      const { service, actor } = actorOf(ctx.session);
      await ctx.reply({ lease: await service.select(actor, ctx.fields.point) });
    },
    deselect: async (ctx) => {
      const { service, actor } = actorOf(ctx.session);
      service.deselect(actor, ctx.fields.point);
      await ctx.reply({});
    },
    operate: async (ctx) => {
      const { service, actor } = actorOf(ctx.session);
      await ctx.reply({ result: await service.operate(actor, ctx.fields.point, ctx.fields.value) });
    },
    substitute: async (ctx) => {
      const { service, actor } = actorOf(ctx.session);
      await ctx.reply({ point: service.substitute(actor, ctx.fields.point, ctx.fields.value) });
    },
    watch: async (ctx) => {
      const { service } = actorOf(ctx.session);
      const pattern = patternOf(ctx.fields.pattern);
      const session = ctx.session;
      unwatch(session);
      // Subscribe first, then take the snapshot: no change falls between the two. The snapshot
      // frames are queued before any event can be delivered (delivery is asynchronous).
      const subscriptions = [bus.subscribe(`events.${pattern ?? '>'}`, (m) => session.sendEncoded(frameOf(m.payload as PointEvent, 'point.event')), { maxQueued: WATCH_QUEUE, policy: 'drop-oldest' })];
      if (ctx.fields.alarms === true) subscriptions.push(bus.subscribe('alarms.>', (m) => session.sendEncoded(frameOf(m.payload as Alarm, 'alarm.event')), { maxQueued: WATCH_QUEUE, policy: 'drop-oldest' }));
      const points = service.points(pattern);
      for (let offset: number | null = 0; offset !== null; ) {
        const page: Page<PointSnapshot> = pageOf(points, offset);
        void session.send({ v: 1, cmd: 'point.snapshot', points: page.items }).catch(() => undefined);
        offset = page.next;
      }
      watches.set(session, subscriptions);
      if (!watched.has(session)) {
        watched.add(session);
        session.onClose(() => unwatch(session));
      }
      await ctx.reply({ points: points.length });
    },
    unwatch: async (ctx) => {
      unwatch(ctx.session);
      await ctx.reply({});
    },
  };
}

/** A point pattern, checked; undefined for all points. */
function patternOf(pattern: string | undefined): string | undefined {
  if (pattern === undefined || pattern === '>' || pattern === '*') return pattern === '*' ? '*' : undefined;
  checkPattern(pattern);
  return pattern;
}

/** Rows a page reads from history at most; the page is then cut to what fits a reply. */
const ROWS_PER_PAGE = 2_000;

/**
 * One page of a history or events query: reads up to ROWS_PER_PAGE rows
 * from `offset` (never past `limit` in all), keeps what fits a reply, and
 * says where the next page starts (null when the query is done).
 */
function rowsPage<T>(offset: number, limit: number, read: (want: number) => T[]): Page<T> {
  const want = Math.min(ROWS_PER_PAGE, limit - offset);
  if (want <= 0) return { items: [], next: null };
  const rows = read(want);
  const page = pageOf(rows);
  const consumed = offset + page.items.length;
  const more = page.next !== null || (rows.length === want && consumed < limit);
  return { items: page.items, next: more ? consumed : null };
}
