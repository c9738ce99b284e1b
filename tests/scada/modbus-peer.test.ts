import { createRequire } from 'node:module';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusPeer } from '../helpers/modbus-peer.js';

// modbus-serial is CommonJS whose typings declare an ES default export; load it the CommonJS way.
const ModbusClient = createRequire(import.meta.url)('modbus-serial') as typeof ModbusRTU;

/**
 * tests/peers/modbus_server.py is the stand-in field device the acquisition
 * interop tests poll. These tests pin down its contract (usage in the
 * script's docstring) with modbus-serial's client, so a failure there is
 * gridlink's and not the peer's.
 */

const HOST = '127.0.0.1';

const peers: ModbusPeer[] = [];
const clients: ModbusRTU[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy(() => undefined);
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

async function client(port: number, timeoutMs = 2_000, unit = 1): Promise<ModbusRTU> {
  const c = new ModbusClient();
  c.on('error', () => undefined);
  clients.push(c);
  await c.connectTCP(HOST, { port });
  c.setTimeout(timeoutMs);
  c.setID(unit);
  return c;
}

async function failure(request: Promise<unknown>): Promise<{ modbusCode?: number; message: string; errno?: string }> {
  try {
    await request;
  } catch (err) {
    return err as { modbusCode?: number; message: string; errno?: string };
  }
  throw new Error('the request succeeded but should have failed');
}

function openRaw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('tests/peers/modbus_server.py (independent Modbus TCP device)', () => {
  it('normal: serves registers set on stdin, coils written over Modbus, discrete inputs mirroring them', async () => {
    const peer = await ModbusPeer.start(peers, 'normal');
    expect(peer.port).toBeGreaterThan(0);
    expect(await peer.command('set 0 1234')).toEqual({ ok: true });
    expect(await peer.command('set 1 -2')).toEqual({ ok: true });
    expect(await peer.command('set 99 7')).toEqual({ ok: true });
    expect(await peer.command('get 1')).toEqual({ ok: true, value: 65534 });
    expect(await peer.command('set 100 1')).toMatchObject({ ok: false });
    expect(await peer.command('nonsense')).toMatchObject({ ok: false });

    const c = await client(peer.port);
    expect((await c.readHoldingRegisters(0, 3)).data).toEqual([1234, 65534, 0]);
    expect((await c.readInputRegisters(98, 2)).data).toEqual([0, 7]);
    expect((await c.readHoldingRegisters(0, 100)).data).toHaveLength(100);

    await c.writeCoil(3, true);
    expect(await peer.command('coils')).toMatchObject({ ok: true, coils: [false, false, false, true, ...Array<boolean>(12).fill(false)] });
    expect((await c.readCoils(0, 4)).data.slice(0, 4)).toEqual([false, false, false, true]);
    expect((await c.readDiscreteInputs(0, 4)).data.slice(0, 4)).toEqual([false, false, false, true]);
    expect(await peer.command('coil 3 0')).toEqual({ ok: true });
    expect((await c.readDiscreteInputs(3, 1)).data[0]).toBe(false);

    expect((await failure(c.readHoldingRegisters(99, 2))).modbusCode).toBe(2);
    expect((await failure(c.writeCoil(16, true))).modbusCode).toBe(2);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([1234]);

    // Another unit id gets no answer at all.
    c.setID(2);
    c.setTimeout(500);
    expect((await failure(c.readHoldingRegisters(0, 1))).message).toMatch(/timed out/iu);
  });

  it('exception: every request gets exception 4 and changes nothing', async () => {
    const peer = await ModbusPeer.start(peers, 'exception');
    const c = await client(peer.port);
    expect((await failure(c.readHoldingRegisters(0, 2))).modbusCode).toBe(4);
    expect((await failure(c.readInputRegisters(0, 2))).modbusCode).toBe(4);
    expect((await failure(c.readDiscreteInputs(0, 2))).modbusCode).toBe(4);
    expect((await failure(c.writeCoil(0, true))).modbusCode).toBe(4);
    expect((await failure(c.readHoldingRegisters(500, 2))).modbusCode).toBe(4);
    expect(await peer.command('coils')).toMatchObject({ coils: Array<boolean>(16).fill(false) });
    // Modes switch at run time: the device recovers.
    expect(await peer.command('mode normal')).toEqual({ ok: true, mode: 'normal' });
    expect((await c.readHoldingRegisters(0, 2)).data).toEqual([0, 0]);
  });

  it('garbage: every answer is malformed, and the peer keeps running', async () => {
    const peer = await ModbusPeer.start(peers, 'garbage');
    expect(await peer.command('set 0 42')).toEqual({ ok: true });
    // A malformed answer can leave a client's stream out of step, so each request gets a fresh connection.
    for (let i = 0; i < 8; i += 1) {
      const c = await client(peer.port, 400);
      const err = await failure(i % 2 === 0 ? c.readHoldingRegisters(0, 1) : c.writeCoil(0, true));
      expect(err.message).not.toBe('');
      c.destroy(() => undefined);
    }
    expect(await peer.command('coils')).toMatchObject({ coils: Array<boolean>(16).fill(false) });
    // Raw bytes: something came back, and it is not a well-formed answer to the request.
    const raw = await openRaw(peer.port);
    const received: Buffer[] = [];
    raw.on('data', (d: Buffer) => received.push(d));
    raw.write(Buffer.from([0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01]));
    await new Promise((r) => setTimeout(r, 300));
    raw.destroy();
    const answer = Buffer.concat(received);
    expect(answer.length).toBeGreaterThan(0);
    expect(answer.equals(Buffer.from([0x00, 0x07, 0x00, 0x00, 0x00, 0x05, 0x01, 0x03, 0x02, 0x00, 0x2a]))).toBe(false);

    expect(await peer.command('mode normal')).toEqual({ ok: true, mode: 'normal' });
    const c = await client(peer.port);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([42]);
  });

  it('silent: accepts connections and reads requests but never answers', async () => {
    const peer = await ModbusPeer.start(peers, 'silent');
    const c = await client(peer.port, 400);
    expect((await failure(c.readHoldingRegisters(0, 1))).message).toMatch(/timed out/iu);
    expect((await failure(c.writeCoil(0, true))).message).toMatch(/timed out/iu);
    expect(await peer.command('coils')).toMatchObject({ coils: Array<boolean>(16).fill(false) });
    const raw = await openRaw(peer.port);
    let received = 0;
    let closedByPeer = false;
    raw.on('data', (d: Buffer) => (received += d.length));
    raw.on('close', () => (closedByPeer = true));
    raw.write(Buffer.from([0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01]));
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toBe(0);
    expect(closedByPeer).toBe(false);
    raw.destroy();
  });

  it('exits 0 when stdin ends or on quit, and 1 with a message when the port is taken', async () => {
    const a = await ModbusPeer.start(peers, 'normal');
    a.child.stdin.end();
    expect(await a.exited(5_000)).toBe(0);

    const b = await ModbusPeer.start(peers, 'normal');
    expect(await b.command('quit')).toEqual({ ok: true });
    expect(await b.exited(5_000)).toBe(0);

    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, HOST, resolve));
    try {
      const taken = (holder.address() as AddressInfo).port;
      const c = new ModbusPeer(['--port', String(taken)]);
      peers.push(c);
      expect(await c.exited(10_000)).toBe(1);
      expect(c.stderr).toMatch(/cannot serve on 127\.0\.0\.1:\d+/u);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});
