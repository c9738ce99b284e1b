"""Concurrent FTP clients for gridlink's benchmarks (bench/auth-transfers.ts).

Usage: FTP_PASSWORD=... ftp-clients.py --host H --port P --user U
           --src-dir DIR --out-dir DIR --clients N [--max-connecting K]

Starts N threads; once all exist they start together, and each logs in,
uploads <src-dir>/client-<i>.bin as client-<i>.bin (STOR), downloads it back
to <out-dir>/client-<i>.bin (RETR) in the same session, and quits. Prints one
JSON line: {"seconds": wall time from the start to the last thread done,
"errors": [...]} (empty when every client succeeded). Checking the files is
the caller's job.

Why threads in one process and not N curl processes: on a small machine the
start-up of 200 curl processes costs whole CPU-seconds that the server under
test then lacks. Why --max-connecting: vsftpd listens with a backlog of 32
(hard-coded), and a burst of connections overflows it; with a protocol in
which the server speaks first, a client whose handshake the kernel dropped
waits for a banner that never comes. At most K clients are between connect()
and the banner at a time (K below the backlog), so the ramp-up follows the
rate at which the server accepts; the transfers themselves all overlap.
"""
import argparse
import ftplib
import json
import os
import threading
import time

BLOCK_BYTES = 64 * 1024
TIMEOUT_S = 60


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--src-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--max-connecting", type=int, default=24)
    args = parser.parse_args()
    password = os.environ["FTP_PASSWORD"]

    connecting = threading.BoundedSemaphore(args.max_connecting)
    start = threading.Barrier(args.clients + 1)
    errors = []

    def client(i):
        name = "client-%d.bin" % i
        start.wait()
        try:
            ftp = ftplib.FTP()
            try:
                with connecting:
                    ftp.connect(args.host, args.port, timeout=TIMEOUT_S)  # returns after the banner
                ftp.login(args.user, password)
                with open(os.path.join(args.src_dir, name), "rb") as source:
                    ftp.storbinary("STOR " + name, source, blocksize=BLOCK_BYTES)
                with open(os.path.join(args.out_dir, name), "wb") as out:
                    ftp.retrbinary("RETR " + name, out.write, blocksize=BLOCK_BYTES)
                ftp.quit()
            finally:
                ftp.close()
        except Exception as err:  # reported, and the exit code says it failed
            errors.append("client %d: %s: %s" % (i, type(err).__name__, err))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "errors": errors}), flush=True)


if __name__ == "__main__":
    main()
