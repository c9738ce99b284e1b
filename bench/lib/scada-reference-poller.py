#!/usr/bin/env python3
"""Reference poller of bench/scada-poll.ts: the same polling load as gridlink's
acquisition, with an independent Modbus stack, and nothing else.

Built on pymodbus 3.0 (Debian's python3-pymodbus: run it with /usr/bin/python3).
It polls UNITS Modbus TCP unit ids (1..UNITS) on HOST:PORT, one connection
each, reading holding registers 0..REGISTERS-1 in one FC3 request every
PERIOD_MS, and decodes every register to an engineering value with the
bench's register map (scale per register, int16 where the layout says so).
It keeps no point table, makes no events, stores no history, checks no
alarms and publishes nothing: it is a lower bound on what polling costs.

  scada-reference-poller.py HOST PORT UNITS REGISTERS PERIOD_MS

One asyncio event loop with pymodbus's AsyncModbusTcpClient, one task per
unit: the shape of gridlink's acquisition (one event loop, one connection and
one poll loop per device). (pymodbus's synchronous client in one thread per
unit was tried: under this load it timed out on about a sixth of its polls.)

Each poll starts PERIOD_MS after the previous one started (as gridlink's
poller does), or at once if it overran. Every STATS_EVERY seconds it prints
one JSON line on stdout: {"t": CLOCK_MONOTONIC seconds, "readings": N,
"polls": N, "errors": N, "connected": N}, counts since start. It runs until
killed.
"""
import argparse
import asyncio
import json
import logging
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

STATS_EVERY = 0.25
REGISTERS_PER_FEEDER = 10
# bench/lib/scada-protocol.ts + src/scada/simulator/layout.ts: register index
# within a feeder -> (scale, signed).
FEEDER_MAP = {
    0: (1.0, False),   # breaker
    1: (0.01, False),  # voltage, kV
    2: (0.1, False),   # current, A
    3: (1.0, True),    # active power, kW
    4: (1.0, True),    # reactive power, kvar
    5: (0.01, False),  # frequency, Hz
}


class Stats:
    def __init__(self):
        self.readings = 0
        self.polls = 0
        self.errors = 0
        self.connected = 0


def decoder(registers):
    table = [FEEDER_MAP.get(r % REGISTERS_PER_FEEDER, (1.0, False)) for r in range(registers)]
    scales = [scale for scale, _ in table]
    signed = [s for _, s in table]

    def decode(words):
        return [((w - 0x10000) if (sig and w >= 0x8000) else w) * scale for w, scale, sig in zip(words, scales, signed)]

    return decode


def print_stats(stats):
    line = json.dumps({"t": time.monotonic(), "readings": stats.readings, "polls": stats.polls, "errors": stats.errors, "connected": stats.connected})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def poll_async(host, port, unit, registers, period, decode, stats):
    client = AsyncModbusTcpClient(host, port=port, timeout=1, retries=0, retry_on_empty=False, reconnect_delay=0)
    await client.connect()
    if client.connected:
        stats.connected += 1
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            response = await client.read_holding_registers(0, registers, slave=unit)
            if response.isError():
                stats.errors += 1
            else:
                values = decode(response.registers)
                stats.readings += len(values)
                stats.polls += 1
        except Exception:  # noqa: BLE001 - a failed poll is counted, not fatal
            stats.errors += 1
        await asyncio.sleep(max(0.0, started + period - loop.time()))


async def run_asyncio(args, decode, stats):
    period = args.period_ms / 1000
    tasks = [asyncio.create_task(poll_async(args.host, args.port, unit, args.registers, period, decode, stats)) for unit in range(1, args.units + 1)]
    while True:
        print_stats(stats)
        await asyncio.sleep(STATS_EVERY)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()


def main():
    parser = argparse.ArgumentParser(description="Reference Modbus TCP poller (pymodbus 3.0)")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("units", type=int)
    parser.add_argument("registers", type=int)
    parser.add_argument("period_ms", type=int)
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    stats = Stats()
    decode = decoder(args.registers)
    asyncio.run(run_asyncio(args, decode, stats))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
