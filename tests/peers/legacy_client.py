#!/usr/bin/env python3
"""Independent legacy ("simulated FTP") client peer for gridlink interop tests.

Written from the wire spec only (docs/protocol.md §2), standard library only.

Usage:
  legacy_client.py --host H --port P put LOCAL NAME
  legacy_client.py --host H --port P get NAME LOCAL
  legacy_client.py --host H --port P putget LOCAL NAME OUT
  legacy_client.py --host H --port P raw HEXBYTES

Exit status: 0 success, 1 socket/protocol failure (one line on stderr),
2 the server answered with an error frame (its JSON header on stderr).
"""
import argparse
import json
import os
import socket
import struct
import sys

CHUNK = 10240              # docs/protocol.md §2: the course client sends 10240-byte pieces
MAX_HEADER = 65536         # docs/protocol.md §2: 1 <= N <= 65536
SOCK_TIMEOUT = 30.0
CLOSE_WAIT_TIMEOUT = 10.0


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame (exit 1)."""


class ServerError(Exception):
    """The server sent {"cmd":"error",...} (exit 2)."""

    def __init__(self, header):
        super().__init__(header.get("message", ""))
        self.header = header


class FrameReader:
    """Buffered frame reader: TCP is a byte stream, so a frame may arrive split
    over many recv() calls, and one recv() may hold many frames (docs/protocol.md §2)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed mid-frame")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_header(self):
        """Return the next header dict, or None on a clean EOF between frames."""
        if not self.buf and not self._fill():
            return None
        (n,) = struct.unpack("<i", self.read_exact(4))   # int32 little-endian
        if not 1 <= n <= MAX_HEADER:
            raise ProtocolError("header length %d out of range" % n)
        try:
            header = json.loads(self.read_exact(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError("header is not UTF-8 JSON: %s" % exc)
        if not isinstance(header, dict) or not isinstance(header.get("cmd"), str):
            raise ProtocolError("header is not an object with a string 'cmd'")
        return header

    def read_body(self, size, sink):
        """Pass exactly `size` body bytes to sink(bytes), in whatever chunking."""
        remaining = size
        while remaining > 0:
            if not self.buf and not self._fill():
                raise ProtocolError("connection closed mid-body (%d bytes missing)" % remaining)
            piece = bytes(self.buf[:remaining])
            del self.buf[:len(piece)]
            remaining -= len(piece)
            sink(piece)


def body_size(header):
    """docs/protocol.md §2: a body follows only when the header has an integer 'size'."""
    size = header.get("size")
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 0:
            raise ProtocolError("negative size %d" % size)
        return size
    return None


def send_header(sock, header):
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    sock.sendall(struct.pack("<i", len(raw)) + raw)


def send_put(sock, reader, local, name):
    """Send {"cmd":"put"} + the file in 10240-byte chunks. No reply is expected."""
    with open(local, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            send_header(sock, {"cmd": "put", "name": name, "size": size})
            sent = 0
            while sent < size:
                chunk = f.read(min(CHUNK, size - sent))
                if not chunk:
                    raise ProtocolError("local file shrank while sending")
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError as exc:
            # The server may have rejected the put and closed; its error frame
            # may still be readable, which is the more useful diagnosis.
            check_for_error_frame(reader, 2.0)
            raise ProtocolError("send failed: %s" % exc)


def check_for_error_frame(reader, timeout):
    """Read at most one frame; raise ServerError if it is an error frame."""
    try:
        reader.sock.settimeout(timeout)
        header = reader.read_header()
    except (OSError, ProtocolError):
        return
    if header is not None and header.get("cmd") == "error":
        raise ServerError(header)


def do_get(sock, reader, name, local):
    send_header(sock, {"cmd": "get", "name": name})
    header = reader.read_header()
    if header is None:
        raise ProtocolError("server closed without replying to get")
    if header.get("cmd") == "error":
        raise ServerError(header)
    size = body_size(header)
    if header.get("cmd") != "get" or size is None:
        raise ProtocolError("unexpected reply header: %s" % json.dumps(header))
    if header.get("name") != name:
        raise ProtocolError("reply name %r != requested %r" % (header.get("name"), name))
    out = open(local, "wb")
    try:
        with out:
            reader.read_body(size, out.write)
    except BaseException:
        try:
            os.unlink(local)    # do not leave a truncated download behind
        except OSError:
            pass
        raise


def wait_after_put(sock, reader):
    """After a final put: half-close, then wait for close or an error frame."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(CLOSE_WAIT_TIMEOUT)
    try:
        header = reader.read_header()
    except socket.timeout:
        return  # no error frame within the wait: the put is taken as accepted
    if header is None:
        return  # server closed cleanly
    if header.get("cmd") == "error":
        raise ServerError(header)
    raise ProtocolError("unexpected frame after put: %s" % json.dumps(header))


def do_raw(sock, reader, hexbytes):
    """Send raw bytes, then print every received header as one JSON line."""
    sock.sendall(bytes.fromhex(hexbytes))
    sock.shutdown(socket.SHUT_WR)   # so a truncated frame cannot hang the server
    while True:
        header = reader.read_header()
        if header is None:
            return
        size = body_size(header)
        if size:
            reader.read_body(size, lambda _piece: None)
        print(json.dumps(header), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="legacy simulated-FTP client (docs/protocol.md §2)")
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", required=True, type=int)
    sub = ap.add_subparsers(dest="op", required=True)
    p = sub.add_parser("put"); p.add_argument("local"); p.add_argument("name")
    p = sub.add_parser("get"); p.add_argument("name"); p.add_argument("local")
    p = sub.add_parser("putget"); p.add_argument("local"); p.add_argument("name"); p.add_argument("out")
    p = sub.add_parser("raw"); p.add_argument("hexbytes")
    args = ap.parse_args(argv)

    try:
        if args.op == "raw":
            bytes.fromhex(args.hexbytes)  # validate before connecting
        with socket.create_connection((args.host, args.port), timeout=SOCK_TIMEOUT) as sock:
            reader = FrameReader(sock)
            if args.op == "put":
                send_put(sock, reader, args.local, args.name)
                wait_after_put(sock, reader)
            elif args.op == "get":
                do_get(sock, reader, args.name, args.local)
            elif args.op == "putget":
                # Same connection: the get follows the put body immediately,
                # proving the client does not wait for a put reply.
                send_put(sock, reader, args.local, args.name)
                do_get(sock, reader, args.name, args.out)
            else:
                do_raw(sock, reader, args.hexbytes)
    except ServerError as exc:
        print(json.dumps(exc.header), file=sys.stderr)
        return 2
    except (OSError, ProtocolError, ValueError) as exc:
        print("legacy_client: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
