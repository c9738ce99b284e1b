/**
 * Why the IEC 60870-5-104 codec refused some bytes or some value. Stable
 * strings: a session maps them to its reaction (close the connection, or
 * answer with a negative confirmation), see docs/iec104.md "Errors".
 */
export type Iec104CodecErrorReason =
  /** The APDU does not start with 0x68. Framing is lost. */
  | 'bad_start_byte'
  /** The APDU length octet is 0..3 or above 253. Framing is lost. */
  | 'bad_length'
  /** The control field is not a valid I, S or U format (or S/U carries an ASDU, or I carries none). */
  | 'bad_control_field'
  /** Fewer bytes than the data unit identifier or than one whole information object; or a stream ended mid-APDU. */
  | 'truncated'
  /** The number of objects (with the SQ bit) does not match the length of the ASDU. */
  | 'object_count_mismatch'
  /** The variable structure qualifier announces zero objects. */
  | 'zero_objects'
  /** A type identification this codec does not know (docs/iec104.md "Supported types"). */
  | 'unknown_type'
  /** A cause of transmission outside 1..13, 20..41, 44..47. */
  | 'unknown_cause'
  /** An information object address above the configured maximum, or 0 for a monitoring object. */
  | 'ioa_out_of_range'
  /** Encoding only: a field value the element cannot carry (a set-point beyond int16, a QU above 31...). */
  | 'invalid_value'
  /** Encoding only: more than 127 objects or more than 249 bytes in one ASDU. */
  | 'asdu_too_long'
  /** A CP56Time2a whose fields do not name a real instant (month 13, minute 61...). */
  | 'invalid_time';

/**
 * The data unit identifier of a refused ASDU, as far as it could be read, so
 * a controlled station can still answer with the matching negative cause
 * (44 unknown type, 45 unknown cause, 47 unknown IOA) to the right address.
 */
export interface RefusedAsduHeader {
  readonly typeId: number;
  readonly sequence: boolean;
  readonly count: number;
  readonly cause: number;
  readonly negative: boolean;
  readonly test: boolean;
  readonly originator: number;
  readonly commonAddress: number;
}

/**
 * The one error the IEC 104 codec throws. Peer input never makes it throw
 * anything else (a property test checks this with random bytes).
 *
 * It is not a GridlinkError on purpose: the codec's reasons are finer than
 * the catalogue's codes, and the 104 session decides which code (if any) the
 * user sees.
 */
export class Iec104CodecError extends Error {
  readonly reason: Iec104CodecErrorReason;
  /** The refused ASDU's data unit identifier, when at least its 6 bytes were present. */
  readonly header: RefusedAsduHeader | undefined;

  constructor(reason: Iec104CodecErrorReason, detail: string, header?: RefusedAsduHeader) {
    super(`IEC 104 ${reason.replaceAll('_', ' ')}: ${detail}`);
    this.name = 'Iec104CodecError';
    this.reason = reason;
    this.header = header;
  }
}
