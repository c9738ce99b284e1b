// The IEC 60870-5-104 codec: bytes in, typed frames out, and back
// (docs/iec104.md "Codec"). Pure: no sockets, no files, no timers.
export {
  APCI_BYTES,
  MAX_APDU_BYTES,
  MAX_APDU_LENGTH,
  MIN_APDU_LENGTH,
  SEQUENCE_MODULO,
  START_BYTE,
  UFunction,
  decodeApci,
  encodeSFrame,
  encodeUFrame,
  stampSequence,
  writeIHeader,
  type Apci,
} from './apci.js';
export { decodeApdu, encodeIFrame, type Apdu } from './apdu.js';
export { ApduSplitter } from './apdu-splitter.js';
export {
  ASDU_HEADER_BYTES,
  IOA_BYTES,
  MAX_ASDU_BYTES,
  MAX_IOA,
  MAX_OBJECTS,
  decodeAsdu,
  encodeAsdu,
  encodeAsduInto,
  encodedAsduLength,
  mirrorAsdu,
  writeAsduHeader,
  writeIoa,
  type AsduDecodeOptions,
} from './asdu.js';
export { Cot, isValidCot } from './cause.js';
export { CP56_BYTES, cp56FromEpochMs, cp56ToEpochMs, writeCp56, type Cp56Time2a } from './cp56time.js';
export { Iec104CodecError, type Iec104CodecErrorReason, type RefusedAsduHeader } from './errors.js';
export {
  DoublePointState,
  type Asdu,
  type AsduHeader,
  type AsduOfType,
  type ClockSyncCommand,
  type CounterInterrogationCommand,
  type DoubleCommand,
  type DoublePoint,
  type DoublePointWithTime,
  type EndOfInitialization,
  type InformationObject,
  type IntegratedTotal,
  type InterrogationCommand,
  type MeasuredValue,
  type MeasuredValueWithTime,
  type ObjectOfType,
  type SetpointCommand,
  type SingleCommand,
  type SinglePoint,
  type SinglePointWithTime,
  type TestCommand,
} from './objects.js';
export { elementCodec, type ElementCodec } from './elements.js';
export { maxObjectsPerAsdu, packAsdus, type PackOptions } from './pack.js';
export { GOOD_POINT_QUALITY, GOOD_QUALITY, pointQualityFromByte, pointQualityToByte, qdsFromByte, qdsToByte, type PointQuality, type Quality } from './quality.js';
export { TypeId, isMonitoringTypeId, isSupportedTypeId, typeIdName } from './type-ids.js';
