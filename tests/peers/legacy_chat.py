#!/usr/bin/env python3
"""Independent peer for gridlink's legacy UDP chat room (docs/legacy-chat.md).

Written from the specification only (docs/legacy-chat.md), with the Python standard
library only, so that it can serve as an independent check on the server.

docs/legacy-chat.md in brief -- every datagram is UTF-8 text:

    client sends      server does
    ------------      -----------
    "L name"          name taken or contains "管理员" -> "该用户存在" to the sender;
                      else "OK" to the sender, then "\\n欢迎 name 进入聊天室" to
                      every other member
    "C name text"     "\\nname: text" to every member except name
    "Q name"          "\\nname 退出聊天室" to the others, "EXIT" to name,
                      name is removed

    Admin announcements reach members as "\\n管理员: text".
    "C"/"Q" for a name are accepted only from the address that logged in with it.

Command line (each run is one scenario; it prints exactly one JSON object on
stdout and exits 0 if every expectation held, 1 otherwise with the reason on
stderr; 2 is argparse's usage error):

    legacy_chat.py [--host H] [--port P] [--names A,B] [--timeout S] [--lenient]
                   scenario basic
    legacy_chat.py ... scenario spoof
    legacy_chat.py ... [--ready-file PATH] listen NAME SECONDS
    legacy_chat.py ... [--wait S] send HEX        (HEX "-" reads hex from stdin)

By default the scenarios are strict: a datagram that the scenario did not
expect (for example a second welcome, or a reply to a refused login) fails
the run.  --lenient records such datagrams but tolerates them (useful when
other clients share the room `lobby`).
"""

import argparse
import json
import select
import socket
import sys
import time

# Literal protocol strings from docs/legacy-chat.md.
TAKEN = "该用户存在"          # reply to a refused "L name"
ADMIN_MARK = "管理员"         # reserved substring; names containing it are refused
OK = "OK"                     # reply to an accepted "L name"
EXIT = "EXIT"                 # reply to "Q name", sent to name itself

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888           # docs/architecture.md: legacy group chat, UDP 8888
DEFAULT_TIMEOUT = 2.0         # seconds to wait for each expected datagram
QUIET_WINDOW = 0.3            # "must receive nothing within 300 ms"
SEND_WAIT = 0.5               # `send` collects replies for 500 ms
RECV_BUFSIZE = 65536          # larger than any UDP payload


def welcome(name):
    """docs/legacy-chat.md: what the other members get when `name` logs in."""
    return "\n欢迎 %s 进入聊天室" % name


def chat_line(name, text):
    """docs/legacy-chat.md: what the other members get for "C name text"."""
    return "\n%s: %s" % (name, text)


def left(name):
    """docs/legacy-chat.md: what the other members get for "Q name"."""
    return "\n%s 退出聊天室" % name


def show(data):
    """Printable form of a datagram (docs/legacy-chat.md says UTF-8; be lenient here)."""
    return data.decode("utf-8", errors="replace")


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class ExpectationFailed(Exception):
    """An expectation of the scenario did not hold (exit status 1)."""


class Peer:
    """One UDP socket talking to the legacy chat server.

    The socket is connect()ed to the server so that the kernel only delivers
    datagrams coming from the server address, and so that an unreachable
    server shows up as ConnectionRefusedError instead of a silent timeout.
    Every datagram received is appended to `self.log` (raw bytes, in order).
    """

    def __init__(self, label, server_addr, family):
        self.label = label
        self.log = []
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.connect(server_addr)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def send(self, payload):
        """Send one datagram (str is encoded as UTF-8, per docs/legacy-chat.md)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.sock.send(payload)

    def recv_one(self, deadline):
        """Return the next datagram, or None once `deadline` has passed."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                return None
            try:
                data = self.sock.recv(RECV_BUFSIZE)
            except BlockingIOError:
                continue  # spurious wake-up; loop is bounded by the deadline
            except ConnectionRefusedError:
                raise ExpectationFailed(
                    "%s: server unreachable (ICMP port unreachable)" % self.label)
            self.log.append(data)
            return data

    def expect(self, expected, timeout, strict):
        """Wait up to `timeout` seconds for the datagram `expected` (str).

        Datagrams that arrive before it are unexpected: in strict mode they
        fail the scenario, otherwise they are only recorded in the log.
        """
        want = expected.encode("utf-8")
        deadline = time.monotonic() + timeout
        while True:
            data = self.recv_one(deadline)
            if data is None:
                raise ExpectationFailed(
                    "%s: expected %r within %.1f s, got nothing%s"
                    % (self.label, expected, timeout, self._seen()))
            if data == want:
                return
            if strict:
                raise ExpectationFailed(
                    "%s: expected %r, got %r" % (self.label, expected, show(data)))

    def collect(self, seconds):
        """Return every datagram received during the next `seconds` seconds."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            data = self.recv_one(deadline)
            if data is None:
                return got
            got.append(data)

    def _seen(self):
        if not self.log:
            return ""
        return " (datagrams so far: %r)" % [show(d) for d in self.log]


def quiet(peers, seconds, strict):
    """Check that none of `peers` receives anything for `seconds` seconds.

    Uses one select() over all sockets so the window is shared, not summed.
    """
    deadline = time.monotonic() + seconds
    extras = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([p.sock for p in peers], [], [], remaining)
        for p in peers:
            if p.sock in ready:
                data = p.recv_one(time.monotonic() + 0.01)
                if data is not None:
                    extras.append("%s got %r" % (p.label, show(data)))
    if extras and strict:
        raise ExpectationFailed("unexpected datagram(s): " + "; ".join(extras))
    return extras


def never_got(peer, forbidden):
    """Fail if `peer` has ever received the datagram `forbidden` (str)."""
    bad = forbidden.encode("utf-8")
    if bad in peer.log:
        raise ExpectationFailed("%s received forbidden datagram %r"
                                % (peer.label, forbidden))


def resolve(host, port):
    """Return (family, sockaddr) for the server's UDP address."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    if not infos:
        raise OSError("cannot resolve %s" % host)
    family, _, _, _, addr = infos[0]
    return family, addr


class Session:
    """Owns the sockets of one run; guarantees cleanup (Q for every name we
    logged in, then close every socket) whatever happens.  Cleanup is not an
    expectation: its outcome is reported under "cleanup" and never fails the
    run."""

    def __init__(self, args):
        self.args = args
        self.family, self.addr = resolve(args.host, args.port)
        self.peers = []
        self.logged_in = {}   # name -> Peer that logged in with it
        self.cleanup_notes = []

    def peer(self, label):
        p = Peer(label, self.addr, self.family)
        self.peers.append(p)
        return p

    def login(self, peer, name):
        """docs/legacy-chat.md "L name" -> expect "OK"."""
        peer.send("L " + name)
        peer.expect(OK, self.args.timeout, self.args.strict)
        self.logged_in[name] = peer

    def quit(self, peer, name):
        """docs/legacy-chat.md "Q name" -> expect "EXIT"."""
        self.logged_in.pop(name, None)
        peer.send("Q " + name)
        peer.expect(EXIT, self.args.timeout, self.args.strict)

    def close(self):
        # Log out whoever is still in the room so repeated runs against one
        # server do not collide on names; non-fatal, noted in the output.
        for name, peer in list(self.logged_in.items()):
            try:
                peer.send("Q " + name)
                got = peer.collect(min(self.args.timeout, 0.5))
                self.cleanup_notes.append(
                    {"quit": name, "exit": EXIT.encode() in got,
                     "received": [show(d) for d in got]})
            except (OSError, ExpectationFailed) as exc:
                self.cleanup_notes.append({"quit": name, "error": str(exc)})
        self.logged_in.clear()
        for p in self.peers:
            p.close()

    def received(self):
        return {p.label: [show(d) for d in p.log] for p in self.peers}


# --------------------------------------------------------------------------
# scenario basic (docs/legacy-chat.md: login, welcome, chat, refusals, quit)
# --------------------------------------------------------------------------
def scenario_basic(s):
    a_name, b_name = s.args.names
    t, strict = s.args.timeout, s.args.strict
    a = s.peer("1:" + a_name)
    b = s.peer("2:" + b_name)
    dup = s.peer("3:dup-" + a_name)
    adm = s.peer("4:" + ADMIN_MARK + "x")

    # A logs in -> "OK".
    s.login(a, a_name)
    # B logs in -> "OK"; A (the only other member) gets the welcome.
    s.login(b, b_name)
    a.expect(welcome(b_name), t, strict)

    # A chats -> B gets "\nann: hello"; A (the sender) gets nothing.
    a.send("C %s hello" % a_name)
    b.expect(chat_line(a_name, "hello"), t, strict)
    quiet([a], QUIET_WINDOW, strict)

    # A third socket tries a taken name -> "该用户存在".
    dup.send("L " + a_name)
    dup.expect(TAKEN, t, strict)
    # A fourth socket tries a name containing "管理员" -> "该用户存在".
    adm.send("L " + ADMIN_MARK + "x")
    adm.expect(TAKEN, t, strict)
    # Refused logins must not be announced to the members.
    quiet([a, b, dup, adm], QUIET_WINDOW, strict)

    # B quits -> B gets "EXIT", A gets "\nben 退出聊天室".
    s.quit(b, b_name)
    a.expect(left(b_name), t, strict)

    # Nothing else may arrive anywhere.
    quiet(s.peers, QUIET_WINDOW, strict)
    for p in (dup, adm):
        never_got(p, welcome(b_name))


# --------------------------------------------------------------------------
# scenario spoof (docs/legacy-chat.md: C/Q only from the address that logged in)
# --------------------------------------------------------------------------
def scenario_spoof(s):
    a_name, b_name = s.args.names
    t, strict = s.args.timeout, s.args.strict
    a = s.peer("1:" + a_name)
    spoofer = s.peer("2:spoofer")     # a different socket => different port
    b = s.peer("3:" + b_name)

    s.login(a, a_name)
    s.login(b, b_name)
    a.expect(welcome(b_name), t, strict)

    # Forged Q and C for "ann" from another source address: must be ignored.
    spoofer.send("Q " + a_name)
    spoofer.send("C %s forged" % a_name)
    # The spec does not say whether the spoofer gets an error reply, so the
    # spoofer's socket is only recorded; the members must see nothing.
    quiet([a, b], QUIET_WINDOW, strict)

    # The real ann still speaks from socket 1 and is still a member.
    a.send("C %s still-here" % a_name)
    b.expect(chat_line(a_name, "still-here"), t, strict)
    quiet([a, b], QUIET_WINDOW, strict)
    spoofer.collect(0.05)   # record whatever the spoofer was sent, if anything

    never_got(b, chat_line(a_name, "forged"))
    never_got(b, left(a_name))
    never_got(a, EXIT)
    never_got(spoofer, EXIT)


SCENARIOS = {"basic": scenario_basic, "spoof": scenario_spoof}


def run_scenario(args):
    result = {"ok": False, "scenario": args.scenario}
    s = None
    try:
        s = Session(args)
        SCENARIOS[args.scenario](s)
        result["ok"] = True
    except ExpectationFailed as exc:
        result["error"] = str(exc)
    except OSError as exc:
        result["error"] = "socket error: %s" % exc
    finally:
        if s is not None:
            # Snapshot before cleanup so that the cleanup's own "Q"/"EXIT"
            # traffic is not mistaken for part of the scenario.
            result["received"] = s.received()
            s.close()
            result["cleanup"] = s.cleanup_notes
    return result


# --------------------------------------------------------------------------
# listen NAME SECONDS (for announcements / native members, docs/legacy-chat.md)
# --------------------------------------------------------------------------
def run_listen(args):
    result = {"ok": False, "name": args.name, "seconds": args.seconds}
    s = None
    try:
        s = Session(args)
        me = s.peer("1:" + args.name)
        me.send("L " + args.name)
        reply = me.recv_one(time.monotonic() + args.timeout)
        result["login"] = None if reply is None else show(reply)
        if reply != OK.encode("utf-8"):
            raise ExpectationFailed("login as %r: expected %r, got %r"
                                    % (args.name, OK, result["login"]))
        s.logged_in[args.name] = me
        # Tell a test harness that we are in the room.
        sys.stderr.write("legacy_chat: listening as %s\n" % args.name)
        sys.stderr.flush()
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write("ready\n")

        # --say: one chat line from the logged-in socket (docs/legacy-chat.md "C name text"),
        # for tests where a native member must receive it.
        if args.say:
            me.send("C %s %s" % (args.name, args.say))

        got = me.collect(args.seconds)
        result["received"] = [show(d) for d in got]
        result["utf8_valid"] = all(is_utf8(d) for d in got)

        # Leave: "Q NAME" -> "EXIT" (anything else before it is recorded).
        del s.logged_in[args.name]
        me.send("Q " + args.name)
        after = []
        deadline = time.monotonic() + args.timeout
        exit_seen = False
        while not exit_seen:
            data = me.recv_one(deadline)
            if data is None:
                break
            if data == EXIT.encode("utf-8"):
                exit_seen = True
            else:
                after.append(show(data))
        result["exit"] = exit_seen
        result["after_quit"] = after
        if not exit_seen:
            raise ExpectationFailed("no %r after 'Q %s'" % (EXIT, args.name))
        result["ok"] = True
    except ExpectationFailed as exc:
        result["error"] = str(exc)
    except OSError as exc:
        result["error"] = "socket error: %s" % exc
    finally:
        if s is not None:
            s.close()
            if s.cleanup_notes:
                result["cleanup"] = s.cleanup_notes
    return result


# --------------------------------------------------------------------------
# send HEX (raw datagram for malformed-input tests)
# --------------------------------------------------------------------------
def run_send(args):
    result = {"ok": False}
    text = sys.stdin.read() if args.hex == "-" else args.hex
    try:
        payload = bytes.fromhex("".join(text.split()))
    except ValueError as exc:
        result["error"] = "bad hex: %s" % exc
        return result
    result["sent_len"] = len(payload)
    s = None
    try:
        s = Session(args)
        p = s.peer("1:raw")
        p.send(payload)
        got = p.collect(args.wait)
        result["replies"] = [d.hex() for d in got]
        result["decoded"] = [show(d) for d in got]
        result["ok"] = True
    except ExpectationFailed as exc:
        result["error"] = str(exc)
    except OSError as exc:
        # e.g. EMSGSIZE: IPv4 UDP payloads are at most 65507 bytes.
        result["error"] = "socket error: %s" % exc
    finally:
        if s is not None:
            s.close()
    return result


# --------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Independent peer for the legacy UDP chat room (docs/legacy-chat.md).")
    ap.add_argument("--host", default=DEFAULT_HOST)
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--names", default="ann,ben",
                    help="two user names A,B for the scenarios (default ann,ben)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds to wait for each expected datagram (default 2)")
    ap.add_argument("--lenient", dest="strict", action="store_false",
                    help="tolerate (but record) datagrams a scenario did not expect")
    ap.add_argument("--wait", type=float, default=SEND_WAIT,
                    help="`send`: seconds to collect replies (default 0.5)")
    ap.add_argument("--ready-file",
                    help="`listen`: write this file once logged in")
    sub = ap.add_subparsers(dest="command", required=True)

    sc = sub.add_parser("scenario", help="run a scripted scenario")
    sc.add_argument("scenario", choices=sorted(SCENARIOS))

    ls = sub.add_parser("listen", help="log in, record datagrams, quit")
    ls.add_argument("name")
    ls.add_argument("seconds", type=float)
    ls.add_argument("--say", help="after logging in, send 'C NAME SAY' once")

    sd = sub.add_parser("send", help="send one raw datagram given in hex")
    sd.add_argument("hex", help='hex bytes ("" for empty, "-" to read stdin)')

    args = ap.parse_args(argv)

    names = args.names.split(",")
    if len(names) != 2 or any(not n or n != n.strip() or " " in n for n in names) \
            or names[0] == names[1]:
        ap.error("--names needs two distinct names without spaces, e.g. ann,ben")
    args.names = names
    if args.command == "listen" and (not args.name or " " in args.name):
        ap.error("listen NAME must be non-empty and contain no spaces")
    for opt in ("timeout", "wait"):
        if getattr(args, opt) < 0:
            ap.error("--%s must be >= 0" % opt)
    if args.command == "listen" and args.seconds < 0:
        ap.error("SECONDS must be >= 0")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "scenario":
        result = run_scenario(args)
    elif args.command == "listen":
        result = run_listen(args)
    else:
        result = run_send(args)
    # One JSON object on stdout, UTF-8 regardless of the locale.
    sys.stdout.buffer.write(
        (json.dumps(result, ensure_ascii=False) + "\n").encode("utf-8"))
    sys.stdout.flush()
    if not result["ok"]:
        sys.stderr.write("legacy_chat: FAIL: %s\n" % result.get("error", "?"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
