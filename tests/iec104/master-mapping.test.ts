import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Iec104PointConfig } from '../../src/config/scada-schema.js';
import { Cot, TypeId, cp56FromEpochMs, encodeAsdu, pointQualityFromByte, qdsFromByte } from '../../src/iec104/codec/index.js';
import { commandAsdu, commandTypeOf, doublePointRaw, qualityOf, timeOf } from '../../src/scada/acquisition/iec104-mapping.js';

/**
 * How gridlink's controlling station maps a station's information onto
 * points and points' commands onto ASDUs (docs/iec104.md "Controlling
 * station"), and how an iec104 device is configured (docs/configuration.md
 * "IEC 104 devices"), without a station.
 */

function point(p: Partial<Iec104PointConfig> & Pick<Iec104PointConfig, 'name' | 'class' | 'ioa'>): Iec104PointConfig {
  return { scale: 1, offset: 0, unit: '', deadband: 0, ...p };
}

describe('IEC 104 master: mapping', () => {
  it('quality bits: IV → invalid; NT, BL, OV → questionable; SB → substituted; none → good', () => {
    expect(qualityOf(qdsFromByte(0x00))).toBe('good');
    expect(qualityOf(qdsFromByte(0x80))).toBe('invalid');
    expect(qualityOf(qdsFromByte(0xc0))).toBe('invalid');
    expect(qualityOf(qdsFromByte(0x40))).toBe('questionable');
    expect(qualityOf(qdsFromByte(0x10))).toBe('questionable');
    expect(qualityOf(qdsFromByte(0x01))).toBe('questionable');
    expect(qualityOf(qdsFromByte(0x20))).toBe('substituted');
    expect(qualityOf(qdsFromByte(0x60))).toBe('questionable');
    expect(qualityOf(pointQualityFromByte(0x20))).toBe('substituted');
  });

  it('double points: OFF → 0, ON → 1, intermediate and indeterminate → no position', () => {
    expect([1, 2].map(doublePointRaw)).toEqual([0, 1]);
    expect(doublePointRaw(0)).toBeNaN();
    expect(doublePointRaw(3)).toBeNaN();
  });

  it('times: a valid CP56Time2a is its instant; one marked invalid, or naming no instant, is the receipt', () => {
    const at = Date.UTC(2026, 10, 22, 10, 30, 15, 123);
    expect(timeOf(cp56FromEpochMs(at), 1)).toBe(at);
    expect(timeOf(cp56FromEpochMs(at, { invalid: true }), 42)).toBe(42);
    expect(timeOf({ ...cp56FromEpochMs(at), month: 13 }, 42)).toBe(42);
  });

  it('commands follow from class and type, select and execute, at the control address', () => {
    expect(commandTypeOf({ class: 'status', type: 'double' })).toBe(TypeId.C_DC_NA_1);
    expect(commandTypeOf({ class: 'control', type: undefined })).toBe(TypeId.C_SC_NA_1);
    expect(commandTypeOf({ class: 'setpoint', type: undefined })).toBe(TypeId.C_SE_NC_1);
    expect(commandTypeOf({ class: 'setpoint', type: 'scaled' })).toBe(TypeId.C_SE_NB_1);
    expect(commandTypeOf({ class: 'setpoint', type: 'normalized' })).toBe(TypeId.C_SE_NA_1);

    const breaker = point({ name: 'r.b', class: 'status', ioa: 1001, type: 'double', control: { ioa: 6001, qualifier: 1, timeoutMs: 1000 } });
    const select = commandAsdu(breaker, 1, true, 7);
    expect(select).toMatchObject({ typeId: TypeId.C_DC_NA_1, cause: Cot.Activation, negative: false, commonAddress: 7, objects: [{ ioa: 6001, value: 2, qualifier: 1, select: true }] });
    expect(commandAsdu(breaker, 0, false, 7).objects[0]).toMatchObject({ value: 1, select: false });
    // What gridlink sends is what its codec accepts.
    // C_DC_NA_1, one object, cause 6, CA 7, IOA 6001, DCO: ON (2) + QU 1 (<<2) + S/E (0x80).
    expect(encodeAsdu(select).toString('hex')).toBe('2e010600070071170086');

    const setpoint = point({ name: 'r.v', class: 'setpoint', ioa: 3001, type: 'scaled', scale: 0.01, offset: 0, control: { qualifier: 0, timeoutMs: 1000 } });
    expect(commandAsdu(setpoint, 10.5, false, 1).objects[0]).toMatchObject({ ioa: 3001, value: 1050 });
    expect(() => commandAsdu(setpoint, 400, false, 1)).toThrow(expect.objectContaining({ code: 'GL_ERR_SCADA_BAD_VALUE' }));
    const normalized = point({ name: 'r.n', class: 'setpoint', ioa: 3002, type: 'normalized', scale: 100, control: { qualifier: 0, timeoutMs: 1000 } });
    expect(commandAsdu(normalized, 50, true, 1).objects[0]).toMatchObject({ value: 0.5 });
    expect(() => commandAsdu(normalized, 150, true, 1)).toThrow(expect.objectContaining({ code: 'GL_ERR_SCADA_BAD_VALUE' }));
    const float = point({ name: 'r.f', class: 'setpoint', ioa: 3003, control: { qualifier: 0, timeoutMs: 1000 } });
    expect(() => commandAsdu(float, 1e40, true, 1)).toThrow(expect.objectContaining({ code: 'GL_ERR_SCADA_BAD_VALUE' }));
    for (const bad of [2, -1, 0.5, Number.NaN]) expect(() => commandAsdu(breaker, bad, true, 1), String(bad)).toThrow(expect.objectContaining({ code: 'GL_ERR_SCADA_BAD_VALUE' }));
  });
});

describe('IEC 104 master: configuration', () => {
  const device = (extra: Record<string, unknown>, points: unknown[] = [{ name: 'a.b', class: 'status', ioa: 1 }]): unknown => ({ scada: { devices: [{ name: 'a', protocol: 'iec104', host: '127.0.0.1', ...extra, points }] } });

  it('takes the standard defaults, and a device without protocol is still Modbus', () => {
    const config = parseConfig(device({}));
    expect(config.scada.devices![0]).toMatchObject({ protocol: 'iec104', port: 2404, commonAddress: 1, k: 12, w: 8, t0: 30_000, t1: 15_000, t2: 10_000, t3: 20_000, clockSync: false, giIntervalMs: 900_000 });
    const modbus = parseConfig({ scada: { devices: [{ name: 'm', host: 'h', points: [{ name: 'm.x', class: 'telemetry', address: 0 }] }] } });
    expect(modbus.scada.devices![0]).toMatchObject({ port: 502, unitId: 1 });
  });

  it('refuses what a station cannot be: w > k, t2 ≥ t1, an address twice, a type that does not fit the class, Modbus keys, an unknown protocol', () => {
    const refused = (input: unknown, message: RegExp): void => expect(() => parseConfig(input)).toThrow(message);
    refused(device({ w: 13 }), /w \(13\) must not exceed k/u);
    refused(device({ t2: 15_000 }), /t2 .* must be shorter than t1/u);
    refused(device({}, [{ name: 'a.b', class: 'status', ioa: 1 }, { name: 'a.c', class: 'status', ioa: 1 }]), /ioa 1 of a is already a\.b's/u);
    refused(device({}, [{ name: 'a.b', class: 'telemetry', ioa: 1, type: 'double' }]), /a telemetry point cannot be double/u);
    refused(device({}, [{ name: 'a.b', class: 'telemetry', ioa: 1, control: {} }]), /only status, control and setpoint/u);
    refused(device({}, [{ name: 'a.b', class: 'status', ioa: 1, control: { qualifier: 40 } }]), /QU\) is 0\.\.31/u);
    refused(device({}, [{ name: 'a.b', class: 'status', ioa: 1, address: 3 }]), /unknown key .*address/u);
    refused({ scada: { devices: [{ name: 'a', protocol: 'dnp3', host: 'h', points: [] }] } }, /protocol is modbus \(the default\) or iec104/u);
  });

  it('the same device address on two stations is fine: it is not gridlink\'s own station address', () => {
    const two = { scada: { devices: ['a', 'b'].map((name) => ({ name, protocol: 'iec104', host: '127.0.0.1', points: [{ name: `${name}.x`, class: 'status', ioa: 1 }] })) } };
    expect(parseConfig(two).scada.devices).toHaveLength(2);
  });
});
