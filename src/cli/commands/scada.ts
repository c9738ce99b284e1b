import { createInterface } from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import type { GridlinkClient } from '../../client/index.js';
import { GridlinkError } from '../../errors/index.js';
import type { Alarm, PointEvent, PointSnapshot } from '../../protocol/scada.js';
import { connectClient, withClient, type ServerFlags } from '../connect.js';
import { PATTERN_HELP, withExamples, withServerOptions } from '../options.js';
import { parseTime, TIME_HELP } from '../parse-time.js';

interface JsonFlag {
  json?: boolean;
}

function timeOption(value: string): number {
  try {
    return parseTime(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/u.test(value) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

/** A value as people read it: state names for status points, the unit for telemetry. */
export function formatValue(point: Pick<PointSnapshot, 'value' | 'unit' | 'states' | 'class'>): string {
  if (point.value === null) return '—';
  if (point.states !== undefined && (point.value === 0 || point.value === 1)) return point.states[point.value];
  const digits = Math.abs(point.value) >= 100 ? 1 : 2;
  return `${point.value.toFixed(digits)}${point.unit === '' ? '' : ` ${point.unit}`}`;
}

/**
 * A value for --json without binary floating-point noise: a register of 4692
 * at scale 0.1 is 469.2, not 469.20000000000005. Fifteen significant digits
 * are what a double holds exactly, so no digit a device sent is lost.
 */
export function jsonValue(value: number | null): number | null {
  return value === null || !Number.isFinite(value) ? value : Number(value.toPrecision(15));
}

function clock(ms: number | null): string {
  return ms === null ? '—' : new Date(ms).toISOString().slice(11, 23);
}

/** One line per point for `gridlink points`. */
export function formatPoint(point: PointSnapshot): string {
  const quality = point.quality === 'good' ? '' : point.substitutedBy === undefined ? point.quality.toUpperCase() : `SUBSTITUTED(by ${point.substitutedBy})`;
  const flags = [quality, point.alarm === undefined ? '' : `ALARM(${point.alarm})`, point.controllable ? 'ctl' : ''].filter((f) => f !== '').join(' ');
  return `${point.name.padEnd(28)} ${formatValue(point).padStart(12)}  ${clock(point.sourceTime)}  ${flags}`.trimEnd();
}

/** One line per event for `gridlink watch`. */
export function formatEvent(event: PointEvent, points: ReadonlyMap<string, PointSnapshot>): string {
  const point = points.get(event.point);
  const value = point === undefined ? String(event.value) : formatValue({ ...point, value: event.value });
  return `${clock(event.sourceTime)} #${event.seq} ${event.point} ${value}${event.quality === 'good' ? '' : ` ${event.quality.toUpperCase()}`}`;
}

export function formatAlarm(alarm: Alarm): string {
  const when = new Date(alarm.raisedAt).toISOString().slice(0, 19).replace('T', ' ');
  return `#${String(alarm.id).padEnd(5)} ${when}  ${alarm.severity.padEnd(4)} ${alarm.state.padEnd(12)} ${alarm.source}  ${alarm.message}`;
}

/**
 * A command value for a point: a state name (`open`, `close`/`closed` for a
 * breaker whose states are open/closed), or a number. Throws GL_ERR_CLIENT_USAGE.
 */
export function parseCommandValue(text: string, point: Pick<PointSnapshot, 'name' | 'states'>): number {
  const word = text.trim().toLowerCase();
  if (point.states !== undefined) {
    const states = point.states.map((s) => s.toLowerCase());
    const index = states.findIndex((s) => s === word || (word.length >= 3 && s.startsWith(word)) || (s.endsWith('d') && s.slice(0, -1).replace(/e$/u, '') === word.replace(/e$/u, '')));
    if (index !== -1) return index;
  }
  if (/^-?\d+(\.\d+)?$/u.test(word)) return Number(word);
  const accepted = point.states === undefined ? 'a number' : `${point.states.join(', ')}, 0 or 1`;
  throw new GridlinkError('GL_ERR_CLIENT_USAGE', `"${text.slice(0, 40)}" is not a value for ${point.name}; expected ${accepted}`);
}

/**
 * A pattern no point matches is a failure (exit status 1), as for grep: a
 * script learns that it asked for nothing, and a person learns why, e.g.
 * that `sub1.*` is two-part names while point names have three.
 */
function noMatch(pattern: string): GridlinkError {
  const wider = pattern.endsWith('.*') ? `; a final * is one name part, ${pattern.slice(0, -1)}> takes every part after it` : '';
  return new GridlinkError('GL_ERR_SCADA_NO_POINT', `nothing matches "${pattern.slice(0, 80)}"${wider}`);
}

async function pointInfo(client: GridlinkClient, name: string): Promise<PointSnapshot> {
  const found = (await client.points(name)).find((p) => p.name === name);
  if (found === undefined) throw new GridlinkError('GL_ERR_SCADA_NO_POINT', name);
  return found;
}

/** `gridlink points|watch|history|alarms|select|operate` (docs/protocol.md §3.6, README.md "Quick tour"). */
export function registerScada(program: Command): void {
  const points = withServerOptions(program.command('points').description('list points with value, quality and time').argument('[pattern]', 'point pattern (default: all), e.g. sub1.f1.*, sub1.>, *.*.breaker'))
    .option('--json', 'print JSON for scripts')
    .action(async (pattern: string | undefined, flags: ServerFlags & JsonFlag) => {
      const points = await withClient(flags, (client) => client.points(pattern));
      if (points.length === 0 && pattern !== undefined) throw noMatch(pattern);
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(points.map((p) => ({ ...p, value: jsonValue(p.value) })))}\n`);
        return;
      }
      if (points.length === 0) process.stderr.write('gridlink: the server has no points (its SCADA service has no devices)\n');
      for (const point of points) process.stdout.write(`${formatPoint(point)}\n`);
    });
  withExamples(
    points,
    [
      ['gridlink points', 'every point'],
      ["gridlink points 'sub1.f1.*'", 'the points of feeder f1 in substation sub1'],
      ["gridlink points '*.*.breaker' --json", 'every breaker, as JSON'],
    ],
    `${PATTERN_HELP}\nA pattern that matches no point is an error (exit status 1).`,
  );

  const watch = withServerOptions(program.command('watch').description('show point changes live, in event order (Ctrl-C to stop)').argument('[pattern]', 'point pattern (default: all), e.g. sub1.f1.*, sub1.>, *.*.breaker'))
    .option('--alarms', 'also show alarm changes')
    .option('--json', 'one JSON object per line')
    .action(async (pattern: string | undefined, flags: ServerFlags & JsonFlag & { alarms?: boolean }) => {
      const client = await connectClient(flags);
      const points = new Map<string, PointSnapshot>();
      const write = (line: string): void => void process.stdout.write(`${line}\n`);
      const snapshot = await client
        .watch(pattern, {
          onEvent: (event) => write(flags.json === true ? JSON.stringify({ type: 'event', ...event, value: jsonValue(event.value) }) : formatEvent(event, points)),
          ...(flags.alarms === true ? { onAlarm: (alarm: Alarm) => write(flags.json === true ? JSON.stringify({ type: 'alarm', alarm }) : `ALARM ${formatAlarm(alarm)}`) } : {}),
        })
        .catch((err: unknown) => {
          client.destroy();
          throw err;
        });
      if (snapshot.length === 0 && pattern !== undefined) {
        // Nothing would ever be shown: say so rather than wait in silence.
        // With --alarms there is still something to watch; say it all the same.
        if (flags.alarms === true) process.stderr.write(`gridlink: ${noMatch(pattern).message}; showing alarms only\n`);
        else {
          await client.close().catch(() => client.destroy());
          throw noMatch(pattern);
        }
      }
      for (const point of snapshot) points.set(point.name, point);
      if (flags.json === true) write(JSON.stringify({ type: 'snapshot', points: snapshot.map((p) => ({ ...p, value: jsonValue(p.value) })) }));
      else for (const point of snapshot) write(formatPoint(point));
      await new Promise<void>((resolve, reject) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        client.onFailure((err) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          reject(err);
        });
      });
      await client.close().catch(() => client.destroy());
    });

  withExamples(
    watch,
    [
      ["gridlink watch 'sub1.>'", 'every change in substation sub1'],
      ["gridlink watch '*.*.breaker' --alarms", 'breakers, and alarms as they change'],
      ['gridlink watch --json | jq .', 'one JSON object per line, for a program'],
    ],
    `${PATTERN_HELP}\nA pattern that matches no point is an error (exit status 1).`,
  );

  withServerOptions(program.command('history').description('recorded values of a point').argument('<point>', 'point name'))
    .requiredOption('--since <time>', TIME_HELP, timeOption)
    .option('--until <time>', `end of the range (default now); ${TIME_HELP}`, timeOption)
    .option('--limit <n>', 'at most this many samples', positiveInt, 10_000)
    .option('--json', 'print JSON for scripts')
    .action(async (point: string, flags: ServerFlags & JsonFlag & { since: number; until?: number; limit: number }) => {
      const samples = await withClient(flags, async (client) => {
        const info = await pointInfo(client, point).catch(() => null);
        const rows = await client.history(point, flags.since, flags.until, flags.limit);
        return { info, rows };
      });
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify({ point, samples: samples.rows.map((s) => ({ ...s, value: jsonValue(s.value) })) })}\n`);
        return;
      }
      for (const s of samples.rows) {
        const value = samples.info === null ? String(s.value) : formatValue({ ...samples.info, value: s.value });
        process.stdout.write(`${new Date(s.sourceTime).toISOString()}  ${value}${s.quality === 'good' ? '' : `  ${s.quality.toUpperCase()}`}\n`);
      }
    });

  withServerOptions(program.command('alarms').description('list alarms, or acknowledge them: alarms ack ID...').argument('[action]', '"ack" to acknowledge').argument('[ids...]', 'alarm ids'))
    .option('--all', 'include cleared and acknowledged alarms (the most recent 1000)')
    .option('--json', 'print JSON for scripts')
    .action(async (action: string | undefined, ids: string[], flags: ServerFlags & JsonFlag & { all?: boolean }) => {
      if (action === undefined) {
        const alarms = await withClient(flags, (client) => client.alarms(flags.all === true));
        if (flags.json === true) process.stdout.write(`${JSON.stringify(alarms)}\n`);
        else for (const alarm of alarms) process.stdout.write(`${formatAlarm(alarm)}\n`);
        return;
      }
      if (action !== 'ack' || ids.length === 0 || ids.some((id) => !/^\d+$/u.test(id))) throw new GridlinkError('GL_ERR_CLIENT_USAGE', 'usage: gridlink alarms [--all] | gridlink alarms ack ID...');
      const acked = await withClient(flags, async (client) => {
        const out: Alarm[] = [];
        for (const id of ids) out.push(await client.acknowledge(Number(id)));
        return out;
      });
      if (flags.json === true) process.stdout.write(`${JSON.stringify(acked)}\n`);
      else for (const alarm of acked) process.stdout.write(`${formatAlarm(alarm)}\n`);
    });

  withServerOptions(program.command('select').description('select a control point, then type the value to operate (empty line releases it)').argument('<point>', 'control point'))
    .action(async (point: string, flags: ServerFlags) => {
      await withClient(flags, async (client) => {
        const info = await pointInfo(client, point);
        const lease = await client.select(point);
        const seconds = Math.round((lease.expiresAt - Date.now()) / 1000);
        const choices = info.states === undefined ? 'a value' : `${info.states.join(' or ')}`;
        process.stderr.write(`selected ${point} (now ${formatValue(info)}); it is yours for ${seconds} s.\nvalue to operate (${choices}), empty line to release: `);
        const line = await readLine();
        if (line === null || line.trim() === '') {
          await client.deselect(point);
          process.stderr.write(`released ${point}\n`);
          return;
        }
        await operateAndReport(client, info, parseCommandValue(line, info));
      });
    });

  withServerOptions(program.command('substitute').description('show a value in place of the device\'s (quality substituted), or --release it').argument('<point>', 'point').argument('[value]', 'open|close for a breaker, or a number'))
    .option('--release', 'show the device\'s value again')
    .action(async (point: string, value: string | undefined, flags: ServerFlags & { release?: boolean }) => {
      if ((value === undefined) === (flags.release !== true)) throw new GridlinkError('GL_ERR_CLIENT_USAGE', 'usage: gridlink substitute POINT VALUE | gridlink substitute POINT --release');
      const shown = await withClient(flags, async (client) => {
        const info = await pointInfo(client, point);
        return client.substitute(point, value === undefined ? null : parseCommandValue(value, info));
      });
      process.stdout.write(`${formatPoint(shown)}\n`);
    });

  withServerOptions(program.command('operate').description('select and operate a control point in one step').argument('<point>', 'control point').argument('<value>', 'open|close for a breaker, or a number'))
    .action(async (point: string, value: string, flags: ServerFlags) => {
      await withClient(flags, async (client) => {
        const info = await pointInfo(client, point);
        const command = parseCommandValue(value, info);
        await client.select(point);
        await operateAndReport(client, info, command);
      });
    });
}

async function operateAndReport(client: GridlinkClient, info: PointSnapshot, value: number): Promise<void> {
  const result = await client.operate(info.name, value);
  process.stdout.write(`${info.name} ${formatValue({ ...info, value })}: confirmed by the device in ${result.tookMs} ms\n`);
}

/** One line from stdin (null at end of input). */
function readLine(): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, terminal: false });
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) resolve(null);
    });
  });
}
