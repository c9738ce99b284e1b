#!/usr/bin/env python3
"""Independent legacy ("simulated FTP") server peer for gridlink interop tests.

Written from the wire spec only (docs/protocol.md §2), standard library only.

Usage:
  legacy_server.py --host 127.0.0.1 --port 0 --root DIR

Prints exactly one line "LISTENING <port>" on stdout once listening, then
serves each connection in its own thread until SIGTERM/SIGINT.
"""
import argparse
import json
import os
import signal
import socket
import stat
import struct
import sys
import tempfile
import threading
import time

CHUNK = 10240              # docs/protocol.md §2: bodies are sent in 10240-byte pieces
MAX_HEADER = 65536         # docs/protocol.md §2: 1 <= N <= 65536
IDLE_TIMEOUT = 300.0       # drop connections idle for this long

# Error codes. The first three are named by the spec; the last two are this
# peer's own choice for cases the spec leaves open.
E_BAD_HEADER = "GL_ERR_FRAME_BAD_HEADER"
E_PATH = "GL_ERR_PATH_FORBIDDEN"
E_NOT_FOUND = "GL_ERR_FILE_NOT_FOUND"
E_UNKNOWN_CMD = "GL_ERR_UNKNOWN_CMD"
E_IO = "GL_ERR_IO"


class Reject(Exception):
    """Send an error frame with this code/message, then close (docs/protocol.md §2)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class PeerGone(Exception):
    """The client closed mid-frame: nothing useful to reply, just close."""


class FrameReader:
    """Buffered reader: a frame may be split across many recv() calls and one
    recv() may contain many frames (docs/protocol.md §2)."""

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
                raise PeerGone("EOF mid-frame")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_header(self):
        """Next header dict, or None on a clean EOF between frames."""
        if not self.buf and not self._fill():
            return None
        (n,) = struct.unpack("<i", self.read_exact(4))   # int32 little-endian
        if not 1 <= n <= MAX_HEADER:
            raise Reject(E_BAD_HEADER, "header length %d out of range 1..%d" % (n, MAX_HEADER))
        try:
            header = json.loads(self.read_exact(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Reject(E_BAD_HEADER, "header is not UTF-8 JSON")
        if not isinstance(header, dict) or not isinstance(header.get("cmd"), str):
            raise Reject(E_BAD_HEADER, "header must be an object with a string 'cmd'")
        return header

    def read_body(self, size, sink):
        """Stream exactly `size` bytes to sink(bytes) without buffering it all."""
        remaining = size
        while remaining > 0:
            if not self.buf and not self._fill():
                raise PeerGone("EOF mid-body")
            piece = bytes(self.buf[:remaining])
            del self.buf[:len(piece)]
            remaining -= len(piece)
            sink(piece)


def body_size(header):
    """docs/protocol.md §2: a body follows only when the header has an integer 'size'."""
    size = header.get("size")
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 0:
            raise Reject(E_BAD_HEADER, "size must be >= 0")
        return size
    return None


def send_frame(sock, header):
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    sock.sendall(struct.pack("<i", len(raw)) + raw)


def resolve(root, header):
    """Map the request's name to a path under root, refusing unsafe names."""
    name = header.get("name")
    if not isinstance(name, str):
        raise Reject(E_BAD_HEADER, "'name' must be a string")
    if (name == "" or name.startswith("/") or os.path.isabs(name)
            or ".." in name or "\0" in name or "\\" in name):
        raise Reject(E_PATH, "forbidden name %r" % name)
    path = os.path.join(root, name)
    # Defence in depth (e.g. symlinks): the real path must stay inside root.
    real = os.path.realpath(path)
    if os.path.commonpath([real, root]) != root or real == root:
        raise Reject(E_PATH, "name %r escapes the root" % name)
    return path


def handle_put(sock, reader, root, header):
    """Stream the body into ROOT/NAME (via a temp file + rename). No reply."""
    size = body_size(header)
    if size is None:
        raise Reject(E_BAD_HEADER, "put needs an integer 'size'")
    path = resolve(root, header)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".gl-put-")
    except OSError as exc:
        raise Reject(E_IO, "cannot store %r: %s" % (header["name"], exc.strerror))
    try:
        os.fchmod(fd, 0o644)                 # mkstemp defaults to 0600
        with os.fdopen(fd, "wb") as out:
            reader.read_body(size, out.write)
        try:
            os.replace(tmp, path)            # atomic: readers never see a partial file
        except OSError as exc:
            raise Reject(E_IO, "cannot store %r: %s" % (header["name"], exc.strerror))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def handle_get(sock, reader, root, header):
    """Reply {"name","size","cmd":"get"} then the file in 10240-byte chunks."""
    extra = body_size(header)
    if extra:
        reader.read_body(extra, lambda _piece: None)   # framing rule: skip body
    path = resolve(root, header)
    try:
        f = open(path, "rb")
    except OSError:
        raise Reject(E_NOT_FOUND, "no such file %r" % header["name"])
    with f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise Reject(E_NOT_FOUND, "not a regular file %r" % header["name"])
        size = st.st_size
        send_frame(sock, {"name": header["name"], "size": size, "cmd": "get"})
        sent = 0
        while sent < size:
            chunk = f.read(min(CHUNK, size - sent))
            if not chunk:   # file shrank under us: cannot keep the framing honest
                raise PeerGone("file shrank while sending")
            sock.sendall(chunk)
            sent += len(chunk)


def graceful_close(sock):
    """Half-close then briefly drain input, so the peer can read our error
    frame instead of being hit by a TCP reset for unread data."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 2.0
        drained = 0
        while drained < (64 << 20):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass


def serve_connection(sock, root):
    """Per-connection loop (docs/protocol.md §2): frame -> put/get, errors close."""
    reader = FrameReader(sock)
    try:
        sock.settimeout(IDLE_TIMEOUT)
        while True:
            header = reader.read_header()
            if header is None:
                return                       # clean EOF between frames
            cmd = header["cmd"]
            if "v" in header:
                raise Reject(E_UNKNOWN_CMD, "versioned requests are not supported")
            if cmd == "put":
                handle_put(sock, reader, root, header)
            elif cmd == "get":
                handle_get(sock, reader, root, header)
            else:
                raise Reject(E_UNKNOWN_CMD, "unknown cmd %r" % cmd)
    except Reject as rej:
        try:
            send_frame(sock, {"cmd": "error", "code": rej.code, "message": str(rej)})
        except OSError:
            pass
        graceful_close(sock)
    except (PeerGone, OSError) as exc:
        print("legacy_server: connection dropped: %s" % exc, file=sys.stderr)
    finally:
        sock.close()


class _Stop(Exception):
    pass


def _on_signal(signum, frame):
    raise _Stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description="legacy simulated-FTP server (docs/protocol.md §2)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--root", required=True)
    args = ap.parse_args(argv)
    root = os.path.realpath(args.root)
    os.makedirs(root, exist_ok=True)

    family = socket.getaddrinfo(args.host, args.port, 0, socket.SOCK_STREAM)[0][0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(64)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print("LISTENING %d" % listener.getsockname()[1], flush=True)

    try:
        while True:
            conn, _addr = listener.accept()
            threading.Thread(target=serve_connection, args=(conn, root), daemon=True).start()
    except _Stop:
        pass
    finally:
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
