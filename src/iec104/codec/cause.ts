/**
 * Causes of transmission the codec accepts (docs/iec104.md "Causes of
 * transmission"): 1..13, 20..41 and 44..47. 14..19 and 42..43 are reserved,
 * 48..63 are for private use, and 0 is not defined: all are refused.
 */
export const Cot = {
  Periodic: 1,
  Background: 2,
  Spontaneous: 3,
  Initialized: 4,
  Request: 5,
  Activation: 6,
  ActivationCon: 7,
  Deactivation: 8,
  DeactivationCon: 9,
  ActivationTermination: 10,
  ReturnInfoRemote: 11,
  ReturnInfoLocal: 12,
  FileTransfer: 13,
  /** Answer to a station (general) interrogation. */
  InterrogatedByStation: 20,
  InterrogatedByGroup1: 21,
  InterrogatedByGroup2: 22,
  InterrogatedByGroup3: 23,
  InterrogatedByGroup4: 24,
  InterrogatedByGroup5: 25,
  InterrogatedByGroup6: 26,
  InterrogatedByGroup7: 27,
  InterrogatedByGroup8: 28,
  InterrogatedByGroup9: 29,
  InterrogatedByGroup10: 30,
  InterrogatedByGroup11: 31,
  InterrogatedByGroup12: 32,
  InterrogatedByGroup13: 33,
  InterrogatedByGroup14: 34,
  InterrogatedByGroup15: 35,
  InterrogatedByGroup16: 36,
  RequestedByGeneralCounter: 37,
  RequestedByGroup1Counter: 38,
  RequestedByGroup2Counter: 39,
  RequestedByGroup3Counter: 40,
  RequestedByGroup4Counter: 41,
  UnknownTypeId: 44,
  UnknownCause: 45,
  UnknownCommonAddress: 46,
  UnknownIoa: 47,
} as const;

export type Cot = (typeof Cot)[keyof typeof Cot];

/** True for a cause of transmission in 1..13, 20..41 or 44..47. */
export function isValidCot(cause: number): cause is Cot {
  return (cause >= 1 && cause <= 13) || (cause >= 20 && cause <= 41) || (cause >= 44 && cause <= 47);
}
