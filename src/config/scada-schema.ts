import { z } from 'zod';
import { POINT_CLASSES } from '../scada/types.js';

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
});

const deviceSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a device name is letters, digits, _ or -'),
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

export type PointConfig = z.output<typeof pointSchema>;
export type DeviceConfig = z.output<typeof deviceSchema>;

export const scadaSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** The built-in substation simulator (SPEC §6), a Modbus TCP server. */
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
