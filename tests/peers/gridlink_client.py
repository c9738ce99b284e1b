#!/usr/bin/env python3
"""Independent client for gridlink's versioned protocol, written from
docs/protocol.md alone (framing §1, versioned frames §3, auth §3.2, files §3.3).

  gridlink_client.py --host H --port P --user U login
  gridlink_client.py --host H --port P --user U put LOCAL REMOTE [--cut-after N]
  gridlink_client.py --host H --port P --user U replay
  gridlink_client.py selftest

The password comes from $GRIDLINK_PASSWORD (--password-from-env, the default).
Exit codes: 0 ok, 1 socket/protocol/usage failure, 2 server sent an error
frame, 3 transfer deliberately cut (--cut-after). Standard library only.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys

TIMEOUT_S = 30
CHUNK = 64 * 1024                  # file I/O granularity (never whole file)
DATA_FRAME_MAX = 4 * 1024 * 1024   # body bytes per put.data frame (§3.3: "one or more")
MAX_HEADER = 65536                 # docs/protocol.md §1: 1 <= N <= 65536


class ProtocolFailure(Exception):
    """Socket or protocol failure -> exit 1."""


class ServerError(Exception):
    """The server replied with an error frame (docs/protocol.md §4) -> exit 2."""
    def __init__(self, header):
        super().__init__(header.get("code"))
        self.header = header


# ---------------------------------------------------------------- framing §1
class Connection:
    """One TCP connection speaking versioned frames (docs/protocol.md §1, §3)."""

    def __init__(self, host, port):
        try:
            self.sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
        except OSError as e:
            raise ProtocolFailure(f"connect {host}:{port}: {e}")
        self.sock.settimeout(TIMEOUT_S)
        self.buf = bytearray()     # bytes received but not yet consumed
        self.next_id = 1
        self.stash = {}            # replies that arrived for another id

    # -- low level
    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ProtocolFailure(f"send: {e}")

    def recv_exact(self, n):
        # A frame may be split across recv() calls, or several frames may come
        # in one recv(): keep a buffer and consume exactly n bytes from it.
        while len(self.buf) < n:
            try:
                data = self.sock.recv(max(CHUNK, n - len(self.buf)))
            except OSError as e:
                raise ProtocolFailure(f"recv: {e}")
            if not data:
                raise ProtocolFailure("connection closed by server"
                                      + (" inside a frame" if self.buf else ""))
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send_header(self, header):
        """int32 LE length + UTF-8 JSON header (§1). Any body is sent by the caller."""
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        if not 1 <= len(raw) <= MAX_HEADER:
            raise ProtocolFailure(f"header length {len(raw)} out of range")
        self.send_raw(struct.pack("<i", len(raw)) + raw)

    def read_frame(self):
        """Read one frame; return (header, body-or-None). Validates §1 rules."""
        (n,) = struct.unpack("<i", self.recv_exact(4))
        if not 1 <= n <= MAX_HEADER:
            raise ProtocolFailure(f"bad header length {n} from server")
        try:
            header = json.loads(self.recv_exact(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ProtocolFailure(f"header is not UTF-8 JSON: {e}")
        if not isinstance(header, dict) or not isinstance(header.get("cmd"), str):
            raise ProtocolFailure(f"header is not an object with string cmd: {header!r}")
        body = None
        if "size" in header:   # body present exactly when "size" is present (§1)
            size = header["size"]
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= 2**53 - 1:
                raise ProtocolFailure(f"bad size in reply: {size!r}")
            body = self.recv_exact(size)   # only small bodies expected here
        return header, body

    # -- versioned requests (§3)
    def send_request(self, cmd, **fields):
        """Send {"v":1,"id":<n>,"cmd":cmd,...}; return the id used."""
        rid = self.next_id
        self.next_id += 1
        self.send_header({"v": 1, "id": rid, "cmd": cmd, **fields})
        return rid

    def wait_reply(self, rid, allow_error=False):
        """Return the reply header carrying id rid (§3: replies carry our id).
        An error frame raises ServerError unless allow_error is set; an error
        without id concerns the whole connection (§4) and always raises."""
        while rid not in self.stash:
            header, _body = self.read_frame()
            if "id" not in header:
                if header["cmd"] == "error":
                    raise ServerError(header)
                raise ProtocolFailure(f"reply without id: {json.dumps(header)}")
            if header.get("v") != 1:
                raise ProtocolFailure(f"reply without v=1: {json.dumps(header)}")
            self.stash[header["id"]] = header
        header = self.stash.pop(rid)
        if header["cmd"] == "error" and not allow_error:
            raise ServerError(header)
        return header

    def request(self, cmd, **fields):
        return self.wait_reply(self.send_request(cmd, **fields))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------ SCRAM, docs/protocol.md §3.2
def b64decode_strict(value, what, expect_len):
    try:
        raw = base64.b64decode(value, validate=True)
    except (TypeError, ValueError) as e:
        raise ProtocolFailure(f"challenge {what} is not base64: {e}")
    if len(raw) != expect_len:   # §3.2: nonce is 32 bytes, salt 16 bytes
        raise ProtocolFailure(f"challenge {what} is {len(raw)} bytes, expected {expect_len}")
    return raw


def scram_keys(password, salt, n, r, p, nonce):
    """Return (ClientKey, StoredKey, ClientProof) as bytes, per §3.2."""
    salted = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                            dklen=32, maxmem=max(256 * 2**20, 256 * r * (n + p + 2)))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.new(stored_key, nonce, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return client_key, stored_key, proof


def compute_proof(challenge, password):
    """Challenge reply {nonce, salt, N, r, p} -> base64 ClientProof (§3.2).
    The HMAC is over the raw nonce bytes (base64-decoded)."""
    nonce = b64decode_strict(challenge.get("nonce"), "nonce", 32)
    salt = b64decode_strict(challenge.get("salt"), "salt", 16)
    try:
        n, r, p = (int(challenge[k]) for k in ("N", "r", "p"))
        _, _, proof = scram_keys(password, salt, n, r, p, nonce)
    except (KeyError, TypeError, ValueError, MemoryError) as e:
        raise ProtocolFailure(f"cannot use challenge parameters: {e}")
    return base64.b64encode(proof).decode("ascii")


def login(conn, user, password):
    """auth.challenge {user} then auth.proof {proof}; return (reply, proof)."""
    challenge = conn.request("auth.challenge", user=user)
    proof = compute_proof(challenge, password)
    return conn.request("auth.proof", proof=proof), proof


# ------------------------------------------------------------- commands
def cmd_login(args, password):
    conn = Connection(args.host, args.port)
    reply, _ = login(conn, args.user, password)
    print(json.dumps(reply))
    conn.close()
    return 0


def cmd_put(args, password):
    """Resumable upload, docs/protocol.md §3.3 (put.open / put.data / put.commit)."""
    try:
        length = os.path.getsize(args.local)
        f = open(args.local, "rb")
    except OSError as e:
        raise ProtocolFailure(f"local file: {e}")
    conn = Connection(args.host, args.port)
    login(conn, args.user, password)
    opened = conn.request("put.open", path=args.remote, length=length)
    upload, offset = opened.get("upload"), opened.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= length:
        raise ProtocolFailure(f"bad offset in put.open reply: {json.dumps(opened)}")
    sha = hashlib.sha256()   # SHA-256 of the WHOLE file, streamed in one pass
    with f:
        done = 0
        while done < offset:          # bytes the server already holds: hash only
            chunk = f.read(min(CHUNK, offset - done))
            if not chunk:
                raise ProtocolFailure("local file shrank while reading")
            sha.update(chunk)
            done += len(chunk)
        budget = None if args.cut_after is None else max(0, args.cut_after)
        sent = 0                      # body bytes sent, counted from offset
        remaining = length - offset
        while remaining > 0 and budget != sent:
            size = min(DATA_FRAME_MAX, remaining)
            rid = conn.send_request("put.data", upload=upload, size=size)
            left = size
            while left > 0 and budget != sent:
                want = min(CHUNK, left) if budget is None else min(CHUNK, left, budget - sent)
                chunk = f.read(want)
                if len(chunk) != want:
                    raise ProtocolFailure("local file changed while reading")
                sha.update(chunk)
                conn.send_raw(chunk)
                left -= want
                sent += want
            if left:                  # cut in the middle of this frame's body
                break
            conn.wait_reply(rid)      # {received}; one reply per frame keeps buffers small
            remaining -= size
        if budget is not None:
            # --cut-after: stop without committing. Half-close so every byte
            # sent is delivered before FIN (a close() with unread data would
            # send RST and could drop them), drain the server's answer, close.
            try:
                conn.sock.shutdown(socket.SHUT_WR)
                conn.sock.settimeout(5)
                while conn.sock.recv(CHUNK):
                    pass
            except OSError:
                pass
            conn.close()
            print(json.dumps({"cut_at": offset + sent}))
            return 3
    commit = conn.request("put.commit", upload=upload, sha256=sha.hexdigest())
    conn.close()
    print(json.dumps({"offset": offset, "sha256": commit.get("sha256"),
                      "length": commit.get("length")}))
    return 0


def cmd_replay(args, password):
    """§3.2: a nonce is valid for one auth.proof on its own connection, so a
    recorded proof must be refused on another connection."""
    a = Connection(args.host, args.port)
    _, old_proof = login(a, args.user, password)     # connection A: real login
    a.close()
    b = Connection(args.host, args.port)
    b.request("auth.challenge", user=args.user)      # fresh nonce on B
    reply = b.wait_reply(b.send_request("auth.proof", proof=old_proof), allow_error=True)
    b.close()
    print(json.dumps(reply))
    refused = reply.get("cmd") == "error" and str(reply.get("code", "")).startswith("GL_ERR_AUTH_")
    return 0 if refused else 1


def cmd_selftest():
    """Fixed vectors for cross-checking the server's SCRAM implementation."""
    ck, sk, proof = scram_keys("pencil", bytes(range(16)), 1024, 8, 1, bytes(range(32)))
    print(json.dumps({"client_key": ck.hex(), "stored_key": sk.hex(),
                      "proof": base64.b64encode(proof).decode("ascii")}))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="gridlink versioned-protocol client")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8889)
    ap.add_argument("--user")
    ap.add_argument("--password-from-env", action="store_true", default=True,
                    help="read the password from $GRIDLINK_PASSWORD (default)")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("login")
    put = sub.add_parser("put")
    put.add_argument("local")
    put.add_argument("remote")
    put.add_argument("--cut-after", type=int, metavar="N")
    sub.add_parser("replay")
    sub.add_parser("selftest")
    args = ap.parse_args(argv)

    if args.command == "selftest":
        return cmd_selftest()
    password = os.environ.get("GRIDLINK_PASSWORD")
    if password is None:
        print("gridlink_client: GRIDLINK_PASSWORD is not set", file=sys.stderr)
        return 1
    if not args.user:
        print("gridlink_client: --user is required", file=sys.stderr)
        return 1
    handler = {"login": cmd_login, "put": cmd_put, "replay": cmd_replay}[args.command]
    try:
        return handler(args, password)
    except ServerError as e:
        print(json.dumps(e.header), file=sys.stderr)
        return 2
    except ProtocolFailure as e:
        print(f"gridlink_client: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
