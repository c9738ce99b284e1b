import { z } from 'zod';
import { POINT_CLASSES } from '../protocol/scada.js';

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().min(1);

/** Point names are dot-separated tokens (they become bus topic tokens): `sub1.f1.breaker`. */
export const POINT_NAME = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;

const limitsSchema = z
  .strictObject({
    lowLow: z.number().optional(),
    low: z.number().optional(),
    high: z.number().optional(),
    highHigh: z.number().optional(),
    /** A limit alarm clears only once the value is back inside by this much (no chatter). */
    hysteresis: z.number().min(0).default(0),
  })
  .refine((l) => l.low === undefined || l.lowLow === undefined || l.lowLow <= l.low, { message: 'lowLow must be <= low' })
  .refine((l) => l.high === undefined || l.highHigh === undefined || l.high <= l.highHigh, { message: 'high must be <= highHigh' })
  .refine((l) => l.low === undefined || l.high === undefined || l.low < l.high, { message: 'low must be < high' });

const deviceName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a device name is letters, digits, _ or -');

const pointSchema = z.strictObject({
  name: z.string().regex(POINT_NAME, 'a point name is 1-8 dot-separated tokens of letters, digits, _ or -'),
  class: z.enum(POINT_CLASSES),
  /** Information object address on IEC 104 (docs/iec104.md "Addresses"); unset: assigned in point-table order. */
  ioa: z.number().int().min(1).max(0xffffff).optional(),
  /** Where the value is read: Modbus holding/input registers, coils or discrete inputs. */
  source: z.enum(['holding', 'input', 'coil', 'discrete']).default('holding'),
  address: z.number().int().min(0).max(65_535),
  /** Register encoding; 32-bit types take two registers, big-endian word order. */
  type: z.enum(['uint16', 'int16', 'uint32', 'int32', 'float32']).default('uint16'),
  /** Engineering value = raw × scale + offset. */
  scale: z.number().finite().default(1),
  offset: z.number().finite().default(0),
  unit: z.string().max(16).default(''),
  /** Telemetry changes smaller than this (engineering units) are not events. */
  deadband: z.number().min(0).default(0),
  /** Status points: what 0 and 1 mean. */
  states: z.tuple([z.string().min(1).max(16), z.string().min(1).max(16)]).optional(),
  limits: limitsSchema.optional(),
  /** Makes the point controllable (select-before-operate); the point's own value is the feedback. */
  control: z
    .strictObject({
      target: z.enum(['coil', 'holding']),
      address: z.number().int().min(0).max(65_535),
      /** The feedback must show the commanded value within this long, or the command failed. */
      timeoutMs: positiveInt.default(5_000),
    })
    .optional(),
  /** How gridlink's own IEC 104 station sends and commands this point (docs/iec104.md "Mapping"); unset: the defaults there. */
  iec104: z
    .strictObject({
      /** single or double for status and control points, float, scaled or normalized for telemetry and setpoints. */
      type: z.enum(['single', 'double', 'float', 'scaled', 'normalized']).optional(),
      /** scaled: the 104 value is round(value × scaleFactor); normalized: value × scaleFactor (−1..1). */
      scaleFactor: z.number().finite().positive().default(1),
      /** Accept an execute without a prior select (direct execute). */
      directExecute: z.boolean().default(false),
    })
    .optional(),
});

const modbusDeviceSchema = z.strictObject({
  name: deviceName,
  /** How gridlink reaches the device; unset is Modbus TCP, so configurations written before IEC 104 still parse. */
  protocol: z.literal('modbus').optional(),
  host: z.string().min(1),
  port: port.default(502),
  unitId: z.number().int().min(0).max(255).default(1),
  pollMs: z.number().int().min(50).default(1_000),
  /** A request without an answer for this long fails the poll (keep it under pollMs). */
  timeoutMs: z.number().int().min(10).default(500),
  /** Reconnect waits double from pollMs up to this. */
  backoffMaxMs: positiveInt.default(10_000),
  points: z.array(pointSchema).min(1).max(10_000),
});

/** The information a 104 point carries at its device: a type hint, also choosing the command (docs/iec104.md "Controlling station"). */
export const IEC104_POINT_TYPES = ['single', 'double', 'float', 'scaled', 'normalized'] as const;
export type Iec104PointType = (typeof IEC104_POINT_TYPES)[number];

/**
 * A point of an IEC 104 device (docs/configuration.md "IEC 104 devices"):
 * the Modbus point without its register fields, addressed by the device's
 * information object address. Built by omission, so whatever else the point
 * schema carries (such as gridlink's own station settings) applies here too.
 */
const iec104PointSchema = pointSchema.omit({ ioa: true, source: true, address: true, type: true, control: true }).extend({
  /** Information object address of the point at the device (not gridlink's own station address). */
  ioa: z.number().int().min(1).max(0xffffff),
  /** What the device sends for it; unset: status → single, telemetry and setpoint → float. Only the command depends on it: any monitored type is accepted. */
  type: z.enum(IEC104_POINT_TYPES).optional(),
  /** Makes the point controllable: select, then execute, then the point's own value is the feedback. */
  control: z
    .strictObject({
      /** Where the command goes; unset: the point's own ioa. */
      ioa: z.number().int().min(0).max(0xffffff).optional(),
      /** QU of single and double commands (0 default, 1 short pulse, 2 long pulse, 3 persistent), QL of set-points. */
      qualifier: z.number().int().min(0).max(127).default(0),
      /** Each confirmation (select, execute) and then the feedback must come within this long, or the command failed. */
      timeoutMs: positiveInt.default(5_000),
    })
    .optional(),
});

const iec104DeviceSchema = z.strictObject({
  name: deviceName,
  protocol: z.literal('iec104'),
  host: z.string().min(1),
  port: port.default(2404),
  /** Common address of ASDU of the station (1..65534). */
  commonAddress: z.number().int().min(1).max(65_534).default(1),
  /** A general interrogation on every (re)connect and then this often. */
  giIntervalMs: positiveInt.default(900_000),
  /** Set the station's clock (C_CS_NA_1) on every connect. */
  clockSync: z.boolean().default(false),
  /** Most I-format APDUs sent and unacknowledged, and the acknowledgement window (docs/iec104.md "Parameters"). */
  k: z.number().int().min(1).max(32_767).default(12),
  w: z.number().int().min(1).max(32_767).default(8),
  /** Connection establishment time-out, ms. */
  t0: positiveInt.default(30_000),
  /** Time-out of send or test APDUs, ms: an unconfirmed one closes the connection (the device is lost). */
  t1: positiveInt.default(15_000),
  /** Time-out for acknowledging received I-format APDUs, ms (t2 < t1). */
  t2: positiveInt.default(10_000),
  /** Idle time before a test frame, ms: a silent station is found within t3 + t1. */
  t3: positiveInt.default(20_000),
  /** Reconnect waits double from 1 s (or this, when smaller) up to this. */
  backoffMaxMs: positiveInt.default(10_000),
  points: z.array(iec104PointSchema).min(1).max(10_000),
});

const deviceSchema = z.discriminatedUnion('protocol', [modbusDeviceSchema, iec104DeviceSchema], { error: 'protocol is modbus (the default) or iec104' });

/** A point of a Modbus device. */
export type PointConfig = z.output<typeof pointSchema>;
/** A point of an IEC 104 device. */
export type Iec104PointConfig = z.output<typeof iec104PointSchema>;
/** A point of any device: what the point table holds. */
export type ScadaPointConfig = PointConfig | Iec104PointConfig;
export type ModbusDeviceConfig = z.output<typeof modbusDeviceSchema>;
export type Iec104DeviceConfig = z.output<typeof iec104DeviceSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;

export const scadaSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** The built-in substation simulator (docs/protocol.md §3.6), a Modbus TCP server. */
    simulator: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(5020),
        units: z.number().int().min(1).max(247).default(1),
        feeders: z.number().int().min(1).max(12).default(4),
        noise: z.boolean().default(true),
        breakerTravelMs: z.number().int().min(0).max(60_000).default(200),
        updateMs: positiveInt.default(1_000),
        /** Poll period of the devices generated for the simulator (when `devices` is not set). */
        pollMs: z.number().int().min(50).default(1_000),
        /**
         * The demo scenario (docs/configuration.md "Demo scenario"): every `periodMs` a feeder
         * overloads and recovers, and a breaker trips on overcurrent and recloses. Runs only
         * while the simulator's own points are polled (`devices` unset), never beside real
         * devices; off unless enabled (the demo defaults enable it).
         */
        scenario: z
          .strictObject({
            enabled: z.boolean().default(false),
            periodMs: z.number().int().min(1_000).max(86_400_000).default(180_000),
            /** The feeder (1-based, of unit 1) that overloads; past the feeder count, the last feeder. */
            overloadFeeder: z.number().int().min(1).max(12).default(2),
            /** The feeder whose breaker trips on overcurrent. */
            tripFeeder: z.number().int().min(1).max(12).default(3),
          })
          .prefault({}),
      })
      .prefault({}),
    /** Field devices to poll. Unset: poll the built-in simulator with its own register map. */
    devices: z.array(deviceSchema).max(10_000).optional(),
    /** How long a `select` holds a control point for its holder. */
    selectTimeoutMs: positiveInt.default(30_000),
    history: z
      .strictObject({
        /** Values and events older than this are deleted (checked hourly). */
        retentionDays: z.number().positive().default(30),
      })
      .prefault({}),
  })
  .superRefine((scada, ctx) => {
    const seen = new Set<string>();
    const devices = new Set<string>();
    const ioas = new Map<number, string>();
    for (const [d, device] of (scada.devices ?? []).entries()) {
      if (devices.has(device.name)) ctx.addIssue({ code: 'custom', path: ['devices', d, 'name'], message: `device ${device.name} is defined twice` });
      devices.add(device.name);
      if (device.protocol === 'iec104') {
        checkIec104Device(device, d, seen, ctx);
        continue;
      }
      for (const [p, point] of device.points.entries()) {
        if (seen.has(point.name)) ctx.addIssue({ code: 'custom', path: ['devices', d, 'points', p, 'name'], message: `point ${point.name} is defined twice` });
        seen.add(point.name);
        if (point.ioa !== undefined) {
          const holder = ioas.get(point.ioa);
          if (holder !== undefined) ctx.addIssue({ code: 'custom', path: ['devices', d, 'points', p, 'ioa'], message: `ioa ${point.ioa} is already ${holder}'s` });
          ioas.set(point.ioa, point.name);
        }
        if (point.control !== undefined && point.class !== 'status' && point.class !== 'setpoint' && point.class !== 'control') {
          ctx.addIssue({ code: 'custom', path: ['devices', d, 'points', p, 'control'], message: 'only status, control and setpoint points can be controlled' });
        }
      }
    }
  });

export type ScadaConfig = z.output<typeof scadaSchema>;

/**
 * An IEC 104 device's own rules: point names unique across the data plane,
 * one point per device address, types that fit the class, and the standard's
 * w ≤ k and t2 < t1. Its points' `ioa` is the device's address, so it is not
 * checked against gridlink's own station addresses.
 */
function checkIec104Device(device: Iec104DeviceConfig, d: number, seen: Set<string>, ctx: z.RefinementCtx): void {
  if (device.w > device.k) ctx.addIssue({ code: 'custom', path: ['devices', d, 'w'], message: `w (${device.w}) must not exceed k (${device.k})` });
  if (device.t2 >= device.t1) ctx.addIssue({ code: 'custom', path: ['devices', d, 't2'], message: `t2 (${device.t2} ms) must be shorter than t1 (${device.t1} ms)` });
  const ioas = new Map<number, string>();
  for (const [p, point] of device.points.entries()) {
    const path = ['devices', d, 'points', p];
    if (seen.has(point.name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `point ${point.name} is defined twice` });
    seen.add(point.name);
    const holder = ioas.get(point.ioa);
    if (holder !== undefined) ctx.addIssue({ code: 'custom', path: [...path, 'ioa'], message: `ioa ${point.ioa} of ${device.name} is already ${holder}'s` });
    ioas.set(point.ioa, point.name);
    const binary = point.class === 'status' || point.class === 'control';
    if (point.type !== undefined && binary !== (point.type === 'single' || point.type === 'double')) {
      ctx.addIssue({ code: 'custom', path: [...path, 'type'], message: `a ${point.class} point cannot be ${point.type}` });
    }
    if (point.control !== undefined && point.class === 'telemetry') {
      ctx.addIssue({ code: 'custom', path: [...path, 'control'], message: 'only status, control and setpoint points can be controlled' });
    }
    if (point.control !== undefined && binary && point.control.qualifier > 31) {
      ctx.addIssue({ code: 'custom', path: [...path, 'control', 'qualifier'], message: 'the qualifier of a single or double command (QU) is 0..31' });
    }
  }
}
