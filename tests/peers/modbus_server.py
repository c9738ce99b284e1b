#!/usr/bin/env python3
"""Independent Modbus TCP server peer (a stand-in field device) for gridlink interop tests.

Built on pymodbus 3.0 (Debian's python3-pymodbus: run it with /usr/bin/python3),
not on anything in gridlink, so gridlink's acquisition is tested against a
second Modbus implementation, including one that misbehaves.

Usage:
  modbus_server.py --port N [--host 127.0.0.1] [--unit U] [--mode normal|exception|garbage|silent]

Binds HOST:N (default 127.0.0.1; N = 0 picks a free port) and prints one line
  {"ready": true, "port": <bound port>, "unit": U, "mode": "<mode>"}
on stdout once it serves. It fails with exit status 1 and a message on stderr
when it cannot bind.

Data (unit U only; requests for any other unit id get no answer at all, which
is what pymodbus 3.0 does with unknown unit ids):
  holding registers 0..99 (FC3, FC6, FC16)   all 0 at start
  input registers   0..99 (FC4)              the same values as the holding registers
  coils             0..15 (FC1, FC5, FC15)   all 0 at start
  discrete inputs   0..15 (FC2)              mirror the coils (instant status feedback)
Anything outside those ranges: exception 2 (illegal data address).

Modes:
  normal     serve the data above
  exception  answer every request with exception 4 (slave device failure), change nothing
  garbage    answer every request with malformed bytes, change nothing; each answer
             is one of: random bytes with a non-zero protocol id; the right header
             announcing 65535 bytes that never come; a wrong function code; a
             byte count that disagrees with the data
  silent     accept connections and read requests, never answer, change nothing

Control channel (stdin, one command per line; each gets one JSON line on stdout):
  set ADDR VALUE      holding register ADDR := VALUE (-32768..65535, stored as uint16)
                      -> {"ok": true}
  get ADDR            -> {"ok": true, "value": N}
  coil ADDR 0|1       coil ADDR := 0|1                  -> {"ok": true}
  coils               -> {"ok": true, "coils": [16 booleans]}
  mode MODE           switch mode at run time           -> {"ok": true, "mode": MODE}
  quit                -> {"ok": true}, then exit 0
  anything else       -> {"ok": false, "error": "..."}
End of stdin also shuts the server down (exit 0), so the peer never outlives
the test that spawned it; keep stdin open for as long as it should serve.
"""
import argparse
import asyncio
import json
import logging
import os
import random
import struct
import sys
import threading

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.pdu import ExceptionResponse, ModbusExceptions
from pymodbus.server.async_io import ModbusTcpServer

REGISTERS = 100
COILS = 16
MODES = ("normal", "exception", "garbage", "silent")

state = {"mode": "normal"}


class PeerContext(ModbusSlaveContext):
    """The unit's data; refuses every access unless the mode is normal, so a
    misbehaving peer never applies a write it does not acknowledge."""

    def validate(self, fc_as_hex, address, count=1):
        if state["mode"] != "normal":
            return False
        return super().validate(fc_as_hex, address, count)


def garbage(response):
    """Malformed bytes in place of the answer to `response`'s request."""
    tid = response.transaction_id & 0xFFFF
    uid = response.unit_id & 0xFF
    fc = getattr(response, "original_code", response.function_code & 0x7F) & 0x7F
    kind = random.randrange(4)
    if kind == 0:
        # Random bytes whose protocol id (bytes 2-3) is never 0: not Modbus TCP.
        data = bytearray(os.urandom(random.randint(8, 64)))
        data[2] = random.randint(1, 255)
        return bytes(data)
    if kind == 1:
        # The right header announcing a 65535-byte PDU, then a few bytes and nothing more.
        return struct.pack(">HHHBB", tid, 0, 0xFFFF, uid, fc) + os.urandom(4)
    if kind == 2:
        # Well framed, but a function code the request did not use (and not its exception).
        wrong = ((fc + random.randint(1, 0x3F)) & 0x3F) or 0x2A
        if wrong == fc:
            wrong ^= 0x20
        body = os.urandom(4)
        return struct.pack(">HHHBB", tid, 0, 2 + len(body), uid, wrong) + body
    # Well framed, right function code, but the byte count promises 250 data bytes and 2 follow.
    return struct.pack(">HHHBBB", tid, 0, 5, uid, fc, 250) + os.urandom(2)


def manipulate(response):
    """pymodbus's response hook: (response, skip_encoding)."""
    mode = state["mode"]
    if mode == "normal":
        return response, False
    if mode == "exception":
        fc = getattr(response, "original_code", response.function_code & 0x7F) & 0x7F
        failure = ExceptionResponse(fc, ModbusExceptions.SlaveFailure)
        failure.transaction_id = response.transaction_id
        failure.unit_id = response.unit_id
        return failure, False
    if mode == "garbage":
        return garbage(response), True
    return b"", True  # silent: the transport writes nothing


def reply(payload):
    print(json.dumps(payload), flush=True)


def control(line, unit, stop):
    """One control-channel command; returns False to stop reading."""
    words = line.split()
    if not words:
        return True
    cmd, args = words[0], words[1:]
    try:
        if cmd == "set" and len(args) == 2:
            addr, value = int(args[0]), int(args[1])
            if not 0 <= addr < REGISTERS:
                raise ValueError(f"register {addr} outside 0..{REGISTERS - 1}")
            if not -0x8000 <= value <= 0xFFFF:
                raise ValueError(f"value {value} outside -32768..65535")
            unit.store["h"].setValues(addr, [value & 0xFFFF])
            reply({"ok": True})
        elif cmd == "get" and len(args) == 1:
            addr = int(args[0])
            if not 0 <= addr < REGISTERS:
                raise ValueError(f"register {addr} outside 0..{REGISTERS - 1}")
            reply({"ok": True, "value": unit.store["h"].getValues(addr, 1)[0]})
        elif cmd == "coil" and len(args) == 2:
            addr, value = int(args[0]), int(args[1])
            if not 0 <= addr < COILS or value not in (0, 1):
                raise ValueError(f"coil {addr} outside 0..{COILS - 1} or value {value} not 0|1")
            unit.store["c"].setValues(addr, [bool(value)])
            reply({"ok": True})
        elif cmd == "coils" and not args:
            reply({"ok": True, "coils": [bool(v) for v in unit.store["c"].getValues(0, COILS)]})
        elif cmd == "mode" and len(args) == 1:
            if args[0] not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            state["mode"] = args[0]
            reply({"ok": True, "mode": args[0]})
        elif cmd == "quit" and not args:
            reply({"ok": True})
            stop()
            return False
        else:
            raise ValueError(f"unknown command: {line.strip()}")
    except ValueError as exc:
        reply({"ok": False, "error": str(exc)})
    return True


def read_stdin(unit, stop):
    for line in sys.stdin:
        if not control(line, unit, stop):
            return
    stop()


async def serve(args):
    registers = ModbusSequentialDataBlock(0, [0] * REGISTERS)
    coils = ModbusSequentialDataBlock(0, [False] * COILS)
    # The same blocks behind two tables: input registers = holding registers,
    # discrete inputs = coils. zero_mode: request address 0 is element 0.
    unit = PeerContext(hr=registers, ir=registers, co=coils, di=coils, zero_mode=True)
    context = ModbusServerContext(slaves={args.unit: unit}, single=False)
    server = ModbusTcpServer(
        context,
        address=(args.host, args.port),
        allow_reuse_address=True,
        response_manipulator=manipulate,
    )
    task = asyncio.create_task(server.serve_forever())
    await asyncio.wait([task, server.serving], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        exc = task.exception()
        print(f"modbus_server: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    port = server.server.sockets[0].getsockname()[1]
    reply({"ready": True, "port": port, "unit": args.unit, "mode": state["mode"]})

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    threading.Thread(target=read_stdin, args=(unit, lambda: loop.call_soon_threadsafe(stopped.set)), daemon=True).start()
    await stopped.wait()
    for handler in list(server.active_connections.values()):
        handler.transport.close()
    await server.server_close()
    task.cancel()
    return 0


def main():
    parser = argparse.ArgumentParser(description="Independent Modbus TCP server peer (pymodbus 3.0)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--unit", type=int, default=1, help="the unit id it answers (1..247, default 1)")
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--verbose", action="store_true", help="pymodbus debug logs on stderr")
    args = parser.parse_args()
    if not 1 <= args.unit <= 247:
        parser.error("--unit must be 1..247")
    state["mode"] = args.mode
    # pymodbus 3.0 configures the root logger when imported (basicConfig in
    # pymodbus.constants) and logs every refused request, and every client
    # that disconnects, at ERROR: keep stderr for real trouble.
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    try:
        code = asyncio.run(serve(args))
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()
