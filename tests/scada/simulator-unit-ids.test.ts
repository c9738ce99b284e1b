import { createRequire } from 'node:module';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTERS_PER_FEEDER } from '../../src/scada/simulator/layout.js';
import { SubstationSimulator } from '../../src/scada/simulator/substation-simulator.js';
import { PEERS_DIR, run } from '../helpers/python.js';

// modbus-serial is CommonJS whose typings declare an ES default export; load it the CommonJS way.
const ModbusClient = createRequire(import.meta.url)('modbus-serial') as typeof ModbusRTU;

const HOST = '127.0.0.1';
/** Debian's python3 has pymodbus 3.0; the pyenv `python3` on PATH does not. */
const PYMODBUS_PYTHON = '/usr/bin/python3';
const FEEDERS = 3;

/** The independent peer: Debian's pymodbus 3.0 client (tests/peers/modbus_client.py). */
async function pymodbus(...args: (string | number)[]): Promise<{ code: number | null; json: unknown; stderr: string }> {
  const result = await run(PYMODBUS_PYTHON, [`${PEERS_DIR}modbus_client.py`, ...args.map(String)], { timeoutMs: 15_000 });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  return { code: result.code, json: line === '' ? null : (JSON.parse(line) as unknown), stderr: result.stderr };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a simulator of one unit answers unit ids 0 and 255 as its unit 1 (what Modbus TCP clients send by default)', () => {
  let single: SubstationSimulator;
  let several: SubstationSimulator;
  let singlePort: number;
  let severalPort: number;

  beforeAll(async () => {
    single = new SubstationSimulator({ host: HOST, port: 0, units: 1, feeders: FEEDERS, noise: false, breakerTravelMs: 0, updateMs: 1_000 });
    several = new SubstationSimulator({ host: HOST, port: 0, units: 2, feeders: FEEDERS, noise: false, breakerTravelMs: 0, updateMs: 1_000 });
    singlePort = (await single.start()).port;
    severalPort = (await several.start()).port;
  });

  afterAll(async () => {
    await single.stop();
    await several.stop();
  });

  it('pymodbus 3.0 reads unit 0 and unit 255: the registers and breakers of unit 1', async () => {
    const size = FEEDERS * REGISTERS_PER_FEEDER;
    // Feeder 2 open, so the image is not uniform and a wrong block would show.
    single.setBreaker(1, 1, false);
    const expected = single.registers(1);
    expect(expected[REGISTERS_PER_FEEDER]).toBe(0);
    const [zero, broadcast, one, bits] = await Promise.all([
      pymodbus('read', HOST, singlePort, 0, 0, size),
      pymodbus('read', HOST, singlePort, 255, 0, size),
      pymodbus('read', HOST, singlePort, 1, 0, size),
      pymodbus('bits', HOST, singlePort, 0, 0, FEEDERS),
    ]);
    expect(zero).toMatchObject({ code: 0, json: expected });
    expect(broadcast).toMatchObject({ code: 0, json: expected });
    expect(one).toMatchObject({ code: 0, json: expected });
    expect(bits.code).toBe(0);
    expect((bits.json as boolean[]).slice(0, FEEDERS)).toEqual([true, false, true]);
  });

  it('a coil written to unit 0 operates unit 1’s breaker; other unit ids still get exception 11', async () => {
    single.setBreaker(1, 2, true);
    expect(await pymodbus('coil', HOST, singlePort, 0, 2, 0)).toMatchObject({ code: 0, json: { ok: true } });
    await waitFor(() => !single.breaker(1, 2), 5_000);
    expect(single.breakerCommand(1, 2)).toBe(false);
    const [two, many] = await Promise.all([pymodbus('read', HOST, singlePort, 2, 0, 1), pymodbus('read', HOST, singlePort, 247, 0, 1)]);
    expect(two).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 11 } });
    expect(many).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 11 } });

    // modbus-serial agrees: unit 0 on a second implementation reads the same block.
    const c = new ModbusClient();
    c.on('error', () => undefined);
    try {
      await c.connectTCP(HOST, { port: singlePort });
      c.setTimeout(2_000);
      c.setID(0);
      expect((await c.readHoldingRegisters(0, REGISTERS_PER_FEEDER)).data).toEqual(single.registers(1).slice(0, REGISTERS_PER_FEEDER));
    } finally {
      c.destroy(() => undefined);
    }
  });

  it('a simulator of several units is a gateway: 0 and 255 are ambiguous and get exception 11', async () => {
    const [zero, broadcast, two] = await Promise.all([
      pymodbus('read', HOST, severalPort, 0, 0, 1),
      pymodbus('read', HOST, severalPort, 255, 0, 1),
      pymodbus('read', HOST, severalPort, 2, 0, 2),
    ]);
    expect(zero).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 11 } });
    expect(broadcast).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 11 } });
    expect(two).toMatchObject({ code: 0, json: several.registers(2).slice(0, 2) });
  });
});
