import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEEDER_REGISTER, REGISTERS_PER_FEEDER } from '../../src/scada/simulator/layout.js';
import { SubstationSimulator, type SubstationSimulatorOptions } from '../../src/scada/simulator/substation-simulator.js';
import { PEERS_DIR, run } from '../helpers/python.js';

// modbus-serial is CommonJS whose typings declare an ES default export; load it the CommonJS way.
const ModbusClient = createRequire(import.meta.url)('modbus-serial') as typeof ModbusRTU;

const HOST = '127.0.0.1';
/** Debian's python3 has pymodbus; the `python3` on PATH may not. */
const PYMODBUS_PYTHON = '/usr/bin/python3';

const OPTIONS: SubstationSimulatorOptions = { host: HOST, port: 0, units: 3, feeders: 4, noise: false, breakerTravelMs: 300, updateMs: 100 };

async function client(port: number, unit = 1, timeoutMs = 2_000): Promise<ModbusRTU> {
  const c = new ModbusClient();
  c.on('error', () => undefined);
  await c.connectTCP(HOST, { port });
  c.setTimeout(timeoutMs);
  c.setID(unit);
  return c;
}

function drop(c: ModbusRTU): void {
  c.destroy(() => undefined);
}

/** The Modbus exception code a request fails with (fails the test if it succeeds). */
async function exceptionCode(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
  throw new Error('the request succeeded but should have failed');
}

async function pymodbus(...args: (string | number)[]): Promise<{ code: number | null; json: unknown; stderr: string }> {
  const result = await run(PYMODBUS_PYTHON, [`${PEERS_DIR}modbus_client.py`, ...args.map(String)], { timeoutMs: 15_000 });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  return { code: result.code, json: line === '' ? null : (JSON.parse(line) as unknown), stderr: result.stderr };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function openRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** An MBAP header (transaction, protocol 0, length, unit) followed by a PDU. */
function adu(transaction: number, unit: number, pdu: Buffer, length = pdu.length + 1): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt16BE(transaction & 0xffff, 0);
  header.writeUInt16BE(0, 2);
  header.writeUInt16BE(length & 0xffff, 4);
  header.writeUInt8(unit, 6);
  return Buffer.concat([header, pdu]);
}

describe('substation simulator over Modbus TCP', () => {
  let sim: SubstationSimulator;
  let port: number;

  beforeAll(async () => {
    sim = new SubstationSimulator(OPTIONS);
    port = (await sim.start()).port;
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('listens on the real port when asked for port 0', () => {
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(502);
    expect(sim.address).toMatchObject({ address: HOST, port });
  });

  it('serves each unit’s feeder blocks on FC3 and FC4, breaker status on FC2 and commands on FC1', async () => {
    const c = await client(port);
    try {
      for (const unit of [1, 2, 3]) {
        c.setID(unit);
        const holding = (await c.readHoldingRegisters(0, OPTIONS.feeders * REGISTERS_PER_FEEDER)).data;
        expect(holding).toEqual(sim.registers(unit));
        expect((await c.readInputRegisters(0, holding.length)).data).toEqual(holding);
        expect((await c.readDiscreteInputs(0, OPTIONS.feeders)).data.slice(0, OPTIONS.feeders)).toEqual([true, true, true, true]);
        expect((await c.readCoils(0, OPTIONS.feeders)).data.slice(0, OPTIONS.feeders)).toEqual([true, true, true, true]);
        const currents = new Set<number>();
        for (let f = 0; f < OPTIONS.feeders; f += 1) {
          const block = holding.slice(f * REGISTERS_PER_FEEDER, (f + 1) * REGISTERS_PER_FEEDER);
          expect(block[FEEDER_REGISTER.breaker]).toBe(1);
          expect(block[FEEDER_REGISTER.voltage]).toBe(1050);
          expect(block[FEEDER_REGISTER.frequency]).toBe(5000);
          expect(block.slice(6)).toEqual([0, 0, 0, 0]);
          const amps = block[FEEDER_REGISTER.current]! / 10;
          expect(amps).toBeGreaterThanOrEqual(100);
          expect(amps).toBeLessThanOrEqual(600);
          currents.add(amps);
          // P and Q agree with V·I: P² + Q² = (√3·V·I)², within the registers' rounding.
          const p = block[FEEDER_REGISTER.activePower]!;
          const q = block[FEEDER_REGISTER.reactivePower]!;
          const s = Math.sqrt(3) * 10.5 * amps;
          expect(Math.abs(Math.hypot(p, q) - s)).toBeLessThan(3);
          expect(p / s).toBeGreaterThan(0.85);
          expect(p / s).toBeLessThan(0.97);
          expect(sim.snapshot(unit, f)).toMatchObject({ breakerClosed: true, breakerCommand: true, voltageKv: 10.5, currentA: amps, activePowerKw: p, reactivePowerKvar: q, frequencyHz: 50 });
        }
        expect(currents.size).toBe(OPTIONS.feeders);
      }
      // A single register and a window across two feeders.
      c.setID(1);
      expect((await c.readHoldingRegisters(FEEDER_REGISTER.current, 1)).data).toEqual([sim.registers(1)[FEEDER_REGISTER.current]]);
      expect((await c.readInputRegisters(7, 6)).data).toEqual(sim.registers(1).slice(7, 13));
    } finally {
      drop(c);
    }
  });

  it('an independent pymodbus client reads the block and operates a breaker; status and current follow after the travel time', async () => {
    const unit = 2;
    const feeder = 1;
    const base = feeder * REGISTERS_PER_FEEDER;
    const before = sim.registers(unit);
    const read = await pymodbus('read', HOST, port, unit, 0, OPTIONS.feeders * REGISTERS_PER_FEEDER);
    expect(read).toMatchObject({ code: 0, json: before });

    // Watch the model: when does the command land, when does the breaker move?
    let commandAt = 0;
    let movedAt = 0;
    const watcher = setInterval(() => {
      if (commandAt === 0 && !sim.breakerCommand(unit, feeder)) commandAt = Date.now();
      if (movedAt === 0 && !sim.breaker(unit, feeder)) movedAt = Date.now();
    }, 2);
    try {
      expect(await pymodbus('coil', HOST, port, unit, feeder, 0)).toMatchObject({ code: 0, json: { ok: true } });
      await waitFor(() => movedAt !== 0, 3_000);
    } finally {
      clearInterval(watcher);
    }
    expect(commandAt).toBeGreaterThan(0);
    // Sampled every few ms on a shared machine: allow for a late first sample.
    expect(movedAt - commandAt).toBeGreaterThanOrEqual(OPTIONS.breakerTravelMs - 100);

    const [bits, coils, block] = await Promise.all([
      pymodbus('bits', HOST, port, unit, 0, OPTIONS.feeders),
      pymodbus('coils', HOST, port, unit, 0, OPTIONS.feeders),
      pymodbus('read', HOST, port, unit, base, REGISTERS_PER_FEEDER),
    ]);
    expect(bits).toMatchObject({ code: 0, json: [true, false, true, true] });
    expect(coils).toMatchObject({ code: 0, json: [true, false, true, true] });
    const open = block.json as number[];
    expect(open[FEEDER_REGISTER.breaker]).toBe(0);
    expect(open[FEEDER_REGISTER.voltage]).toBe(1050); // the busbar is still energised
    expect(open[FEEDER_REGISTER.current]).toBe(0);
    expect(open[FEEDER_REGISTER.activePower]).toBe(0);
    expect(open[FEEDER_REGISTER.reactivePower]).toBe(0);
    expect(open[FEEDER_REGISTER.frequency]).toBe(5000);

    // Close it again: the feeder takes its load back.
    expect(await pymodbus('coil', HOST, port, unit, feeder, 1)).toMatchObject({ code: 0, json: { ok: true } });
    await waitFor(() => sim.breaker(unit, feeder), 3_000);
    expect(await pymodbus('read', HOST, port, unit, 0, OPTIONS.feeders * REGISTERS_PER_FEEDER)).toMatchObject({ code: 0, json: before });
  });

  it('the status lags the command by the travel time; repeating a state is a no-op; a reversed command in travel cancels it', async () => {
    const c = await client(port, 3);
    try {
      const current = sim.registers(3)[FEEDER_REGISTER.current];
      await c.writeCoil(0, false);
      expect((await c.readCoils(0, 1)).data[0]).toBe(false);
      expect((await c.readDiscreteInputs(0, 1)).data[0]).toBe(true);
      expect((await c.readHoldingRegisters(0, 3)).data).toEqual([1, 1050, current]);
      await sleep(OPTIONS.breakerTravelMs + 150);
      expect((await c.readDiscreteInputs(0, 1)).data[0]).toBe(false);
      expect((await c.readHoldingRegisters(0, 3)).data).toEqual([0, 1050, 0]);

      // Open again while open, close while closed elsewhere: accepted, nothing moves.
      await c.writeCoil(0, false);
      await c.writeCoil(1, true);
      await sleep(OPTIONS.breakerTravelMs + 100);
      expect(sim.breaker(3, 0)).toBe(false);
      expect(sim.breaker(3, 1)).toBe(true);

      // Close, then open again before the mechanism arrives: it stays open.
      await c.writeCoil(0, true);
      await sleep(50);
      await c.writeCoil(0, false);
      await sleep(OPTIONS.breakerTravelMs + 150);
      expect(sim.breaker(3, 0)).toBe(false);
      expect(sim.breakerCommand(3, 0)).toBe(false);

      // FC15 writes several commands at once.
      await c.writeCoils(0, [true, true]);
      await waitFor(() => sim.breaker(3, 0), 2_000);
      expect((await c.readHoldingRegisters(0, 3)).data).toEqual([1, 1050, current]);
    } finally {
      drop(c);
    }
  });

  it('out-of-range addresses and unit ids are Modbus exceptions, and the server keeps serving', async () => {
    const size = OPTIONS.feeders * REGISTERS_PER_FEEDER;
    const c = await client(port);
    try {
      expect(await exceptionCode(c.readHoldingRegisters(size, 1))).toBe(2);
      expect(await exceptionCode(c.readHoldingRegisters(size - 2, 3))).toBe(2);
      expect(await exceptionCode(c.readInputRegisters(65_000, 10))).toBe(2);
      expect(await exceptionCode(c.readDiscreteInputs(OPTIONS.feeders, 1))).toBe(2);
      expect(await exceptionCode(c.readCoils(OPTIONS.feeders - 1, 2))).toBe(2);
      expect(await exceptionCode(c.writeCoil(OPTIONS.feeders, false))).toBe(2);
      expect(await exceptionCode(c.readHoldingRegisters(0, 126))).toBe(3);
      expect(await exceptionCode(c.writeRegister(0, 0))).toBe(1);
      expect(await exceptionCode(c.writeRegisters(0, [0, 0]))).toBe(1);
      for (const unit of [0, 4, 247, 255]) {
        c.setID(unit);
        expect(await exceptionCode(c.readHoldingRegisters(0, 1))).toBe(11);
      }
      c.setID(1);
      expect((await c.readHoldingRegisters(0, size)).data).toEqual(sim.registers(1));
      expect(sim.breaker(1, OPTIONS.feeders - 1)).toBe(true);
    } finally {
      drop(c);
    }
    const [address, unit, good] = await Promise.all([
      pymodbus('read', HOST, port, 1, size, 1),
      pymodbus('read', HOST, port, 9, 0, 1),
      pymodbus('read', HOST, port, 1, 0, 2),
    ]);
    expect(address).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 2 } });
    expect(unit).toMatchObject({ code: 3, json: { error: 'modbus_exception', code: 11 } });
    expect(good).toMatchObject({ code: 0, json: sim.registers(1).slice(0, 2) });
  });

  it('hostile peers (garbage, truncated headers, absurd lengths, fuzzed PDUs, mid-frame disconnects) do not disturb it', async () => {
    const bystander = await client(port);
    try {
      const expected = sim.registers(1).slice(0, 10);
      expect((await bystander.readHoldingRegisters(0, 10)).data).toEqual(expected);

      const attacks: Buffer[][] = [
        [randomBytes(4096)],
        [Buffer.from([0x00, 0x01, 0x00])], // a truncated MBAP header, then gone
        [adu(1, 1, Buffer.alloc(0), 0), randomBytes(50)], // length 0
        [adu(2, 1, Buffer.from([0x03]), 0xffff), randomBytes(1000)], // 65535 announced, 1 KiB sent, gone
        [adu(3, 1, Buffer.from([0x03, 0x00])), adu(4, 1, Buffer.alloc(0), 1)], // short PDUs
        [adu(5, 1, Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff])), adu(6, 1, Buffer.from([0x03, 0x00, 0x00, 0xff, 0xff]))], // huge counts
        [adu(7, 1, Buffer.from([0x2b, 0x0e, 0x01, 0x00])), adu(8, 1, Buffer.from([0x0f, 0x00, 0x00, 0x00, 0x10, 0x01]))], // MEI, short FC15
        [adu(9, 1, Buffer.from([0x05, 0x00, 0x00, 0xff]))], // FC5 one byte short, then gone mid-frame
      ];
      // Fuzz: every function code with short random PDUs, several frames per write.
      const fuzz: Buffer[] = [];
      for (let fc = 0; fc < 256; fc += 1) {
        const pdu = Buffer.concat([Buffer.from([fc]), randomBytes(fc % 9)]);
        // Keep coil writes away from the breakers the bystander watches.
        if (fc === 5 || fc === 15) pdu.writeUInt8(0x7f, 1);
        fuzz.push(adu(fc, 1 + (fc % 5), pdu));
      }
      attacks.push([Buffer.concat(fuzz)]);

      const replies: Buffer[] = [];
      await Promise.all(
        attacks.map(async (chunks) => {
          const socket = await openRaw(port);
          socket.on('error', () => undefined);
          socket.on('data', (d: Buffer) => replies.push(d));
          for (const chunk of chunks) socket.write(chunk);
          await sleep(150);
          socket.destroy();
        }),
      );
      // The fuzzed frames got answers (exceptions mostly), and none of them killed anything.
      expect(replies.length).toBeGreaterThan(0);
      expect((await bystander.readHoldingRegisters(0, 10)).data).toEqual(expected);
      const fresh = await client(port, 2);
      try {
        expect((await fresh.readInputRegisters(0, 10)).data).toEqual(sim.registers(2).slice(0, 10));
      } finally {
        drop(fresh);
      }
      await waitFor(() => sim.connections === 1, 2_000);
    } finally {
      drop(bystander);
    }
  });

  it('polls 200 units × 100 registers quickly (one FC3 per unit)', async () => {
    const big = new SubstationSimulator({ ...OPTIONS, units: 200, feeders: 10, noise: true, updateMs: 50 });
    const { port: bigPort } = await big.start();
    const clients = await Promise.all([0, 1, 2, 3].map(() => client(bigPort)));
    try {
      const started = performance.now();
      await Promise.all(
        clients.map(async (c, i) => {
          for (let unit = 1 + i; unit <= 200; unit += clients.length) {
            c.setID(unit);
            const { data } = await c.readHoldingRegisters(0, 100);
            expect(data).toHaveLength(100);
          }
        }),
      );
      const tookMs = performance.now() - started;
      expect(tookMs).toBeLessThan(2_000);
    } finally {
      for (const c of clients) drop(c);
      await big.stop();
    }
  });
});

describe('substation simulator model and lifecycle', () => {
  it('noise moves values around nominal every updateMs, keeping P and Q consistent with V·I', async () => {
    const sim = new SubstationSimulator({ ...OPTIONS, noise: true, updateMs: 20 });
    await sim.start();
    try {
      const first = sim.registers(1);
      const seen = new Set<string>([first.join(',')]);
      for (let i = 0; i < 5; i += 1) {
        await sleep(30);
        seen.add(sim.registers(1).join(','));
      }
      expect(seen.size).toBeGreaterThan(1);
      for (let f = 0; f < OPTIONS.feeders; f += 1) {
        const s = sim.snapshot(1, f);
        expect(s.voltageKv).toBeGreaterThanOrEqual(10.4);
        expect(s.voltageKv).toBeLessThanOrEqual(10.6);
        expect(s.frequencyHz).toBeGreaterThanOrEqual(49.95);
        expect(s.frequencyHz).toBeLessThanOrEqual(50.05);
        expect(Math.abs(Math.hypot(s.activePowerKw, s.reactivePowerKvar) - Math.sqrt(3) * s.voltageKv * s.currentA)).toBeLessThan(10);
      }
    } finally {
      await sim.stop();
    }
  });

  it('freeze pins exact register values; an open breaker still drops the load; unfreeze restores the model', () => {
    const sim = new SubstationSimulator({ ...OPTIONS, noise: true });
    const base = 2 * REGISTERS_PER_FEEDER;
    sim.freeze(1, 2, { currentA: 123.4, voltageKv: 10.61, frequencyHz: 49.87 });
    let regs = sim.registers(1).slice(base, base + 6);
    expect(regs[FEEDER_REGISTER.current]).toBe(1234);
    expect(regs[FEEDER_REGISTER.voltage]).toBe(1061);
    expect(regs[FEEDER_REGISTER.frequency]).toBe(4987);
    expect(Math.abs(Math.hypot(regs[FEEDER_REGISTER.activePower]!, regs[FEEDER_REGISTER.reactivePower]!) - Math.sqrt(3) * 10.61 * 123.4)).toBeLessThan(3);
    sim.freeze(1, 2, { activePowerKw: -1500, reactivePowerKvar: 321 });
    expect(sim.snapshot(1, 2)).toMatchObject({ currentA: 123.4, voltageKv: 10.61, activePowerKw: -1500, reactivePowerKvar: 321, frequencyHz: 49.87 });
    expect(sim.registers(1)[base + FEEDER_REGISTER.activePower]).toBe(0x10000 - 1500);

    sim.setBreaker(1, 2, false);
    expect(sim.snapshot(1, 2)).toMatchObject({ breakerClosed: false, breakerCommand: false, currentA: 0, activePowerKw: 0, reactivePowerKvar: 0, voltageKv: 10.61 });
    sim.setBreaker(1, 2, true);
    expect(sim.snapshot(1, 2)).toMatchObject({ breakerClosed: true, currentA: 123.4, activePowerKw: -1500 });

    sim.unfreeze(1, 2);
    regs = sim.registers(1).slice(base, base + 6);
    expect(regs[FEEDER_REGISTER.current]).not.toBe(1234);
    expect(regs[FEEDER_REGISTER.activePower]).toBeLessThan(0x8000);
  });

  it('rejects impossible sizes and unknown feeders', () => {
    expect(() => new SubstationSimulator({ ...OPTIONS, units: 0 })).toThrow(RangeError);
    expect(() => new SubstationSimulator({ ...OPTIONS, units: 248 })).toThrow(RangeError);
    expect(() => new SubstationSimulator({ ...OPTIONS, feeders: 0 })).toThrow(RangeError);
    expect(() => new SubstationSimulator({ ...OPTIONS, updateMs: 0 })).toThrow(RangeError);
    const sim = new SubstationSimulator(OPTIONS);
    expect(() => sim.breaker(4, 0)).toThrow(RangeError);
    expect(() => sim.snapshot(1, 4)).toThrow(RangeError);
  });

  it('start() rejects with a clear error when the port is taken, and leaves nothing open', async () => {
    const first = new SubstationSimulator(OPTIONS);
    const { port } = await first.start();
    const second = new SubstationSimulator({ ...OPTIONS, port });
    try {
      await expect(second.start()).rejects.toThrow(new RegExp(`cannot listen on ${HOST}:${port}.*EADDRINUSE`, 'u'));
      expect(second.address).toBeNull();
      await second.stop();
      // The first one is unaffected.
      const c = await client(port);
      expect((await c.readHoldingRegisters(0, 2)).data).toEqual(first.registers(1).slice(0, 2));
      drop(c);
    } finally {
      await first.stop();
    }
  });

  it('stop() closes the listener and every client connection, and is idempotent', async () => {
    const sim = new SubstationSimulator(OPTIONS);
    const { port } = await sim.start();
    const raws = await Promise.all([openRaw(port), openRaw(port), openRaw(port)]);
    for (const raw of raws) raw.on('error', () => undefined);
    raws[0].write(adu(1, 1, Buffer.from([0x03]), 200)); // one mid-frame
    const c = await client(port);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([1]);
    await waitFor(() => sim.connections === 4, 2_000);

    const started = Date.now();
    await sim.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(sim.connections).toBe(0);
    expect(await Promise.all(raws.map((raw) => closed(raw, 2_000)))).toEqual([true, true, true]);
    await expect(openRaw(port)).rejects.toThrow(/ECONNREFUSED/u);
    await sim.stop();
    drop(c);
  });
});
