import type { UserActor } from '../../accounts/actor.js';
import { GridlinkError } from '../../errors/index.js';
import type { Logger } from '../../log/logger.js';
import type { ScadaApi, SelectLease } from '../../protocol/scada.js';
import { Cot, DoublePointState, TypeId, mirrorAsdu, type AsduOfType } from '../codec/index.js';
import { setpointValue, type StationPoint } from './point-map.js';

/** The command types the station acts on (docs/iec104.md "Commands"). */
export type CommandAsdu = AsduOfType<
  typeof TypeId.C_SC_NA_1 | typeof TypeId.C_DC_NA_1 | typeof TypeId.C_SE_NA_1 | typeof TypeId.C_SE_NB_1 | typeof TypeId.C_SE_NC_1
>;

export function isCommandType(typeId: number): boolean {
  return typeId === TypeId.C_SC_NA_1 || typeId === TypeId.C_DC_NA_1 || typeId === TypeId.C_SE_NA_1 || typeId === TypeId.C_SE_NB_1 || typeId === TypeId.C_SE_NC_1;
}

/** A select this master made and has not yet executed. */
interface Selection {
  readonly typeId: number;
  readonly value: number;
  readonly expiresAt: number;
}

export interface CommandContext {
  readonly scada: ScadaApi;
  readonly actor: UserActor;
  readonly logger: Logger;
  /** Queues an ASDU for the master. */
  send(asdu: Buffer): void;
}

/**
 * Select-before-operate for one master (docs/iec104.md "Commands"), through
 * the same control desk, feedback check and audit log as an operator:
 * select (S/E = 1) takes the desk's lease and answers a positive ACTCON, or
 * a negative one when the point cannot be selected (held by someone else,
 * not controllable, substituted); execute (S/E = 0) must follow this
 * master's select of the same command and value (or the point allows direct
 * execute): positive ACTCON, then the desk operates, then ACTTERM, positive
 * when the feedback confirmed the command, negative when it failed (the
 * desk raises `commandFailed` then, as for an operator). Deactivation (COT 8)
 * of a select releases it.
 */
export class CommandHandler {
  readonly #ctx: CommandContext;
  readonly #selections = new Map<string, Selection>();

  constructor(ctx: CommandContext) {
    this.#ctx = ctx;
  }

  /** `asdu` has been checked: one object, this station's common address, cause 6 or 8, a known point. */
  handle(bytes: Buffer, asdu: CommandAsdu, point: StationPoint): void {
    const object = asdu.objects[0]!;
    const deactivation = asdu.cause === Cot.Deactivation;
    const refuse = (why: string): void => {
      this.#ctx.logger.info({ event: 'iec104.command_refused', actor: this.#ctx.actor.identity.name, point: point.name, type: asdu.typeId, select: object.select, reason: why }, `IEC 104 command on ${point.name} refused: ${why}`);
      this.#ctx.send(mirrorAsdu(bytes, deactivation ? Cot.DeactivationCon : Cot.ActivationCon, true));
    };
    if (!point.controllable) return refuse('the point is not controllable');
    const binaryCommand = asdu.typeId === TypeId.C_SC_NA_1 || asdu.typeId === TypeId.C_DC_NA_1;
    if (binaryCommand !== point.binary) return refuse(binaryCommand ? 'a single or double command for a set-point' : 'a set-point command for a status point');
    const value = commandValue(asdu, point);
    if (value === null) return refuse('the command value is not permitted (a double command is 1 OFF or 2 ON)');

    const { scada, actor } = this.#ctx;
    const name = point.name;
    if (deactivation) {
      const held = this.#selections.delete(name);
      if (!held) return refuse('nothing selected to deactivate');
      scada.deselect(actor, name);
      this.#ctx.send(mirrorAsdu(bytes, Cot.DeactivationCon, false));
      return;
    }
    if (object.select) {
      const answer = Buffer.from(bytes);
      selectThen(
        () => scada.select(actor, name),
        (lease) => {
          this.#selections.set(name, { typeId: asdu.typeId, value, expiresAt: lease.expiresAt });
          this.#ctx.send(mirrorAsdu(answer, Cot.ActivationCon, false));
        },
        (err) => {
          this.#selections.delete(name);
          refuse(reasonOf(err));
        },
      );
      return;
    }

    // Execute.
    const selection = this.#selections.get(name);
    this.#selections.delete(name);
    if (selection !== undefined) {
      if (selection.typeId !== asdu.typeId || selection.value !== value || Date.now() >= selection.expiresAt) {
        scada.deselect(actor, name);
        return refuse(Date.now() >= selection.expiresAt ? 'the selection expired' : 'the execute does not match the select');
      }
    } else if (point.directExecute) {
      const answer = Buffer.from(bytes);
      selectThen(
        () => scada.select(actor, name),
        () => this.#execute(answer, point, value),
        (err) => refuse(reasonOf(err)),
      );
      return;
    } else {
      return refuse('execute without select (the point does not allow direct execute)');
    }
    this.#execute(bytes, point, value);
  }

  /** Operates a point this master holds: positive ACTCON now, ACTTERM when the desk settles. */
  #execute(bytes: Buffer, point: StationPoint, value: number): void {
    const { scada, actor } = this.#ctx;
    const name = point.name;
    const refuse = (why: string): void => {
      this.#ctx.logger.info({ event: 'iec104.command_refused', actor: actor.identity.name, point: name, reason: why }, `IEC 104 command on ${name} refused: ${why}`);
      this.#ctx.send(mirrorAsdu(bytes, Cot.ActivationCon, true));
    };
    if (point.substituted) {
      scada.deselect(actor, name);
      return refuse('the point shows a substituted value: its feedback cannot confirm a command');
    }
    this.#ctx.send(mirrorAsdu(bytes, Cot.ActivationCon, false));
    const answered = Buffer.from(bytes);
    scada.operate(actor, name, value).then(
      () => this.#ctx.send(mirrorAsdu(answered, Cot.ActivationTermination, false)),
      (err: unknown) => {
        this.#ctx.logger.info({ event: 'iec104.command_failed', actor: actor.identity.name, point: name, value, reason: reasonOf(err) }, `IEC 104 command on ${name} failed`);
        this.#ctx.send(mirrorAsdu(answered, Cot.ActivationTermination, true));
      },
    );
  }
}

/** The engineering value a command sets (0/1 for binary points), or null when its value is not permitted. */
function commandValue(asdu: CommandAsdu, point: StationPoint): number | null {
  const object = asdu.objects[0]!;
  switch (asdu.typeId) {
    case TypeId.C_SC_NA_1:
      return asdu.objects[0]!.value ? 1 : 0;
    case TypeId.C_DC_NA_1: {
      const dcs = asdu.objects[0]!.value;
      return dcs === DoublePointState.On ? 1 : dcs === DoublePointState.Off ? 0 : null;
    }
    default: {
      const value = setpointValue(asdu.typeId, object.value as number, point.scaleFactor);
      return Number.isFinite(value) ? value : null;
    }
  }
}

/**
 * Runs a select and calls `ok` or `failed` with its outcome: at once in one
 * process, once the cluster answered in a cluster (docs/cluster.md).
 */
function selectThen(select: () => SelectLease | Promise<SelectLease>, ok: (lease: SelectLease) => void, failed: (err: unknown) => void): void {
  let result: SelectLease | Promise<SelectLease>;
  try {
    result = select();
  } catch (err) {
    failed(err);
    return;
  }
  if (result instanceof Promise) result.then(ok, failed);
  else ok(result);
}

function reasonOf(err: unknown): string {
  if (err instanceof GridlinkError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
