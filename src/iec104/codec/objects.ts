import type { Cot } from './cause.js';
import type { Cp56Time2a } from './cp56time.js';
import type { PointQuality, Quality } from './quality.js';
import type { TypeId } from './type-ids.js';

// Information objects, one interface per element family (docs/iec104.md
// "Supported types"). `ioa` is the information object address, 0..0xFFFFFF.

/** M_SP_NA_1: SIQ. */
export interface SinglePoint {
  readonly ioa: number;
  /** SPI: true = ON. */
  readonly value: boolean;
  readonly quality: PointQuality;
}

/** M_SP_TB_1: SIQ + CP56Time2a. */
export interface SinglePointWithTime extends SinglePoint {
  readonly time: Cp56Time2a;
}

/** DPI / DCS states. */
export const DoublePointState = {
  /** Intermediate (or not permitted, for DCS). */
  Intermediate: 0,
  Off: 1,
  On: 2,
  /** Indeterminate (or not permitted, for DCS). */
  Indeterminate: 3,
} as const;

export type DoublePointState = (typeof DoublePointState)[keyof typeof DoublePointState];

/** M_DP_NA_1: DIQ. */
export interface DoublePoint {
  readonly ioa: number;
  readonly value: DoublePointState;
  readonly quality: PointQuality;
}

/** M_DP_TB_1: DIQ + CP56Time2a. */
export interface DoublePointWithTime extends DoublePoint {
  readonly time: Cp56Time2a;
}

/**
 * M_ME_NA_1 (NVA: -1 ≤ value < 1, in steps of 2^-15), M_ME_NB_1 (SVA: an
 * integer -32768..32767) and M_ME_NC_1 (IEEE 754 short float), each + QDS.
 */
export interface MeasuredValue {
  readonly ioa: number;
  readonly value: number;
  readonly quality: Quality;
}

/** M_ME_TD_1, M_ME_TE_1, M_ME_TF_1: a measured value + QDS + CP56Time2a. */
export interface MeasuredValueWithTime extends MeasuredValue {
  readonly time: Cp56Time2a;
}

/** M_IT_NA_1: BCR, a binary counter reading. */
export interface IntegratedTotal {
  readonly ioa: number;
  /** Counter value, a signed 32-bit integer. */
  readonly value: number;
  /** SQ: sequence number 0..31. */
  readonly sequence: number;
  /** CY: the counter overflowed in this period. */
  readonly carry: boolean;
  /** CA: the counter was adjusted in this period. */
  readonly adjusted: boolean;
  /** IV: the reading is invalid. */
  readonly invalid: boolean;
}

/** Fields shared by the commands with a qualifier and a select/execute bit. */
interface CommandFields {
  readonly ioa: number;
  /** S/E: true = select, false = execute. */
  readonly select: boolean;
}

/** C_SC_NA_1: SCO. */
export interface SingleCommand extends CommandFields {
  /** SCS: true = ON. */
  readonly value: boolean;
  /** QU, qualifier of command 0..31 (0 none, 1 short pulse, 2 long pulse, 3 persistent). */
  readonly qualifier: number;
}

/** C_DC_NA_1: DCO. */
export interface DoubleCommand extends CommandFields {
  /** DCS: 1 = OFF, 2 = ON (0 and 3 are not permitted, yet carried). */
  readonly value: DoublePointState;
  /** QU, 0..31 as for {@link SingleCommand}. */
  readonly qualifier: number;
}

/** C_SE_NA_1 (NVA), C_SE_NB_1 (SVA), C_SE_NC_1 (short float), each + QOS. */
export interface SetpointCommand extends CommandFields {
  readonly value: number;
  /** QL, qualifier of set-point command 0..127 (0 = default). */
  readonly qualifier: number;
}

/** C_IC_NA_1: QOI (20 = station interrogation, 21..36 = group 1..16). */
export interface InterrogationCommand {
  readonly ioa: number;
  readonly qoi: number;
}

/** C_CI_NA_1: QCC. */
export interface CounterInterrogationCommand {
  readonly ioa: number;
  /** RQT, bits 0..5: 5 = general request, 1..4 = counter group 1..4. */
  readonly request: number;
  /** FRZ, bits 6..7: 0 read, 1 freeze without reset, 2 freeze with reset, 3 reset. */
  readonly freeze: number;
}

/** C_CS_NA_1: the time to set. */
export interface ClockSyncCommand {
  readonly ioa: number;
  readonly time: Cp56Time2a;
}

/** C_TS_TA_1: TSC (test sequence counter 0..65535) + CP56Time2a. */
export interface TestCommand {
  readonly ioa: number;
  readonly counter: number;
  readonly time: Cp56Time2a;
}

/** M_EI_NA_1: COI. */
export interface EndOfInitialization {
  readonly ioa: number;
  /** Cause of initialization 0..127: 0 local power on, 1 local manual reset, 2 remote reset. */
  readonly coi: number;
  /** BS1 of COI: initialized after a change of local parameters. */
  readonly parametersChanged: boolean;
}

/** The data unit identifier fields of an ASDU, apart from the type and the objects. */
export interface AsduHeader {
  /** SQ: the objects are one IOA followed by consecutive elements. */
  readonly sequence: boolean;
  readonly cause: Cot;
  /** P/N: a negative confirmation. */
  readonly negative: boolean;
  /** T: a test ASDU, not to be acted upon. */
  readonly test: boolean;
  /** Originator address, 0..255 (0 = default). */
  readonly originator: number;
  /** Common address of ASDU (the station), 1..65534; 65535 is the global address. */
  readonly commonAddress: number;
}

interface AsduOf<T extends TypeId, O> extends AsduHeader {
  readonly typeId: T;
  /** 1..127 objects; with `sequence`, their IOAs are consecutive. */
  readonly objects: readonly O[];
}

/** A decoded ASDU; the same object encodes back to the same bytes. Discriminated by `typeId`. */
export type Asdu =
  | AsduOf<typeof TypeId.M_SP_NA_1, SinglePoint>
  | AsduOf<typeof TypeId.M_SP_TB_1, SinglePointWithTime>
  | AsduOf<typeof TypeId.M_DP_NA_1, DoublePoint>
  | AsduOf<typeof TypeId.M_DP_TB_1, DoublePointWithTime>
  | AsduOf<typeof TypeId.M_ME_NA_1, MeasuredValue>
  | AsduOf<typeof TypeId.M_ME_TD_1, MeasuredValueWithTime>
  | AsduOf<typeof TypeId.M_ME_NB_1, MeasuredValue>
  | AsduOf<typeof TypeId.M_ME_TE_1, MeasuredValueWithTime>
  | AsduOf<typeof TypeId.M_ME_NC_1, MeasuredValue>
  | AsduOf<typeof TypeId.M_ME_TF_1, MeasuredValueWithTime>
  | AsduOf<typeof TypeId.M_IT_NA_1, IntegratedTotal>
  | AsduOf<typeof TypeId.C_SC_NA_1, SingleCommand>
  | AsduOf<typeof TypeId.C_DC_NA_1, DoubleCommand>
  | AsduOf<typeof TypeId.C_SE_NA_1, SetpointCommand>
  | AsduOf<typeof TypeId.C_SE_NB_1, SetpointCommand>
  | AsduOf<typeof TypeId.C_SE_NC_1, SetpointCommand>
  | AsduOf<typeof TypeId.M_EI_NA_1, EndOfInitialization>
  | AsduOf<typeof TypeId.C_IC_NA_1, InterrogationCommand>
  | AsduOf<typeof TypeId.C_CI_NA_1, CounterInterrogationCommand>
  | AsduOf<typeof TypeId.C_CS_NA_1, ClockSyncCommand>
  | AsduOf<typeof TypeId.C_TS_TA_1, TestCommand>;

/** The ASDU variant of one type id, e.g. `AsduOfType<typeof TypeId.C_IC_NA_1>`. */
export type AsduOfType<T extends TypeId> = Extract<Asdu, { readonly typeId: T }>;

/** The information object of one type id. */
export type ObjectOfType<T extends TypeId> = AsduOfType<T>['objects'][number];

/** Any information object. */
export type InformationObject = Asdu['objects'][number];
