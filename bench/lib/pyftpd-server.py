"""pyftpdlib FTP server for gridlink's benchmarks.

Usage: pyftpd-server.py --host 127.0.0.1 --root DIR --user U --password P

Binds port 0 and prints "LISTENING <port>" once ready (the benchmark reads
it, so no port can be taken in between), then serves until SIGTERM.
"""
import argparse
import logging

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    # Per-command INFO logging costs time on every transfer; keep warnings only.
    config_logging(level=logging.WARNING)

    authorizer = DummyAuthorizer()
    # e l r: list and read; a d f m w: append, delete, rename, mkdir, write.
    authorizer.add_user(args.user, args.password, args.root, perm="elradfmw")

    class Handler(FTPHandler):
        pass

    Handler.authorizer = authorizer
    server = FTPServer((args.host, 0), Handler)
    print("LISTENING %d" % server.socket.getsockname()[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
