#!/usr/bin/env python3
"""Independent Modbus TCP client peer for gridlink interop tests.

Built on pymodbus 3.0 (Debian's python3-pymodbus: run it with /usr/bin/python3),
not on anything in gridlink, so it checks gridlink's Modbus surface against a
second implementation.

Usage:
  modbus_client.py [--timeout SEC] read  HOST PORT UNIT ADDR COUNT   holding registers (FC3)
  modbus_client.py [--timeout SEC] input HOST PORT UNIT ADDR COUNT   input registers (FC4)
  modbus_client.py [--timeout SEC] bits  HOST PORT UNIT ADDR COUNT   discrete inputs (FC2)
  modbus_client.py [--timeout SEC] coils HOST PORT UNIT ADDR COUNT   coils (FC1)
  modbus_client.py [--timeout SEC] coil  HOST PORT UNIT ADDR 0|1     write one coil (FC5)

On success prints one JSON line on stdout and exits 0: a list of register
values (read, input), a list of booleans (bits, coils), or {"ok": true} (coil).
On a Modbus exception prints {"error": "modbus_exception", "code": N, ...} on
stdout, a message on stderr, and exits 3; on no/invalid response or a
connection failure prints {"error": "io", ...} / {"error": "connect", ...} and
exits 4; bad usage exits 2.
"""
import argparse
import json
import logging
import sys

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ExceptionResponse

EXIT_MODBUS_EXCEPTION = 3
EXIT_IO = 4


def fail(payload, message, code):
    print(json.dumps(payload), flush=True)
    print(f"modbus_client: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def main():
    parser = argparse.ArgumentParser(description="Independent Modbus TCP client (pymodbus 3.0)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a response (default 3)")
    parser.add_argument("op", choices=["read", "input", "bits", "coils", "coil"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("unit", type=int)
    parser.add_argument("addr", type=int)
    parser.add_argument("value", type=int, help="COUNT for reads, 0|1 for coil")
    args = parser.parse_args()
    if args.op == "coil" and args.value not in (0, 1):
        parser.error("coil value must be 0 or 1")

    # pymodbus logs every failure at ERROR through the root logger's last
    # resort handler; our own stderr line is enough.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    # pymodbus 3.0 truncates the timeout with int(): keep at least 1 second.
    client = ModbusTcpClient(args.host, port=args.port, timeout=max(1, round(args.timeout)), retries=0, retry_on_empty=False)
    try:
        if not client.connect():
            fail({"error": "connect", "message": f"cannot connect to {args.host}:{args.port}"},
                 f"cannot connect to {args.host}:{args.port}", EXIT_IO)
        if args.op == "read":
            response = client.read_holding_registers(args.addr, args.value, slave=args.unit)
        elif args.op == "input":
            response = client.read_input_registers(args.addr, args.value, slave=args.unit)
        elif args.op == "bits":
            response = client.read_discrete_inputs(args.addr, args.value, slave=args.unit)
        elif args.op == "coils":
            response = client.read_coils(args.addr, args.value, slave=args.unit)
        else:
            response = client.write_coil(args.addr, bool(args.value), slave=args.unit)
    except ConnectionException as exc:
        fail({"error": "connect", "message": str(exc)}, str(exc), EXIT_IO)
    except ModbusException as exc:
        fail({"error": "io", "message": str(exc)}, str(exc), EXIT_IO)
    finally:
        client.close()

    if isinstance(response, ExceptionResponse):
        fail({"error": "modbus_exception", "code": response.exception_code, "function": response.original_code},
             f"Modbus exception {response.exception_code} for function {response.original_code}",
             EXIT_MODBUS_EXCEPTION)
    if isinstance(response, ModbusException) or response is None or response.isError():
        fail({"error": "io", "message": str(response)}, f"no valid response: {response}", EXIT_IO)

    if args.op in ("read", "input"):
        values = list(response.registers)
        if len(values) != args.value:
            fail({"error": "io", "message": f"asked for {args.value} registers, got {len(values)}"},
                 "wrong register count in the response", EXIT_IO)
        print(json.dumps(values), flush=True)
    elif args.op in ("bits", "coils"):
        # The PDU carries whole bytes: pymodbus pads the list to a multiple of 8.
        print(json.dumps([bool(b) for b in response.bits[: args.value]]), flush=True)
    else:
        if response.address != args.addr or bool(response.value) != bool(args.value):
            fail({"error": "io", "message": "the coil write was not echoed"}, "the coil write was not echoed", EXIT_IO)
        print(json.dumps({"ok": True}), flush=True)


if __name__ == "__main__":
    main()
