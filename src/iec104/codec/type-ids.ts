/**
 * Type identifications the codec supports (docs/iec104.md "Supported types").
 * Names are the standard's own, so they read the same as in any 104 tool.
 */
export const TypeId = {
  /** Single-point information. */
  M_SP_NA_1: 1,
  /** Double-point information. */
  M_DP_NA_1: 3,
  /** Measured value, normalized. */
  M_ME_NA_1: 9,
  /** Measured value, scaled. */
  M_ME_NB_1: 11,
  /** Measured value, short floating point. */
  M_ME_NC_1: 13,
  /** Integrated totals (binary counter reading). */
  M_IT_NA_1: 15,
  /** Single-point information with CP56Time2a. */
  M_SP_TB_1: 30,
  /** Double-point information with CP56Time2a. */
  M_DP_TB_1: 31,
  /** Measured value, normalized, with CP56Time2a. */
  M_ME_TD_1: 34,
  /** Measured value, scaled, with CP56Time2a. */
  M_ME_TE_1: 35,
  /** Measured value, short floating point, with CP56Time2a. */
  M_ME_TF_1: 36,
  /** Single command. */
  C_SC_NA_1: 45,
  /** Double command. */
  C_DC_NA_1: 46,
  /** Set-point command, normalized. */
  C_SE_NA_1: 48,
  /** Set-point command, scaled. */
  C_SE_NB_1: 49,
  /** Set-point command, short floating point. */
  C_SE_NC_1: 50,
  /** End of initialization. */
  M_EI_NA_1: 70,
  /** Interrogation command. */
  C_IC_NA_1: 100,
  /** Counter interrogation command (answered with M_IT_NA_1). */
  C_CI_NA_1: 101,
  /** Clock synchronization command. */
  C_CS_NA_1: 103,
  /** Test command with CP56Time2a. */
  C_TS_TA_1: 107,
} as const;

export type TypeId = (typeof TypeId)[keyof typeof TypeId];

const NAMES: readonly (string | undefined)[] = (() => {
  const names: (string | undefined)[] = [];
  for (const [name, id] of Object.entries(TypeId)) names[id] = name;
  return names;
})();

/** True for the type identifications in {@link TypeId}. */
export function isSupportedTypeId(id: number): id is TypeId {
  return NAMES[id] !== undefined;
}

/** The standard's name of a type id ("M_SP_NA_1"), or "type 42" for one the codec does not know. */
export function typeIdName(id: number): string {
  return NAMES[id] ?? `type ${id}`;
}

/**
 * Process information in monitor direction (types 1..44): these objects live
 * at a real address, so IOA 0 is refused for them (docs/iec104.md "Addresses").
 * M_EI_NA_1 (70) is system information and is sent at IOA 0.
 */
export function isMonitoringTypeId(id: number): boolean {
  return id >= 1 && id <= 44;
}
