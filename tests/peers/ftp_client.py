#!/usr/bin/env python3
"""An independent FTP client for gridlink's FTP front (docs/ftp.md): Python's
own ftplib, FTP or FTP_TLS, runs every command the front supports against a
real server and checks each reply code and every byte it transfers.

  ftp_client.py --port P --user U --password W --workdir D [--tls --cafile F]

Prints one JSON line per step ({"step", "reply"}), then {"done": true, ...}
with the SHA-256 of what it stored, so the test can check the server's disk.
Exits non-zero at the first reply that is not the expected one.
"""
import argparse
import hashlib
import io
import json
import os
import socket
import ssl
import sys
import time
from ftplib import FTP, FTP_TLS, error_perm, error_temp


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--user', required=True)
    parser.add_argument('--password', required=True)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--tls', action='store_true')
    parser.add_argument('--cafile')
    args = parser.parse_args()

    def step(name: str, reply: str) -> str:
        print(json.dumps({'step': name, 'reply': reply}), flush=True)
        return reply

    def expect(name: str, reply: str, code: str) -> str:
        step(name, reply)
        if not reply.startswith(code):
            raise SystemExit(f'{name}: expected {code}, got {reply!r}')
        return reply

    def expect_error(name: str, call, code: str) -> str:
        try:
            reply = call()
        except (error_perm, error_temp) as err:
            return expect(name, str(err), code)
        raise SystemExit(f'{name}: expected {code}, got {reply!r}')

    if args.tls:
        context = ssl.create_default_context(cafile=args.cafile)
        ftp: FTP = FTP_TLS(context=context, encoding='utf-8')
    else:
        ftp = FTP(encoding='utf-8')
    expect('connect', ftp.connect(args.host, args.port, timeout=30), '220')
    if args.tls:
        expect('AUTH TLS', ftp.auth(), '234')
        expect('PBSZ + PROT P', ftp.prot_p(), '200')
    expect('USER + PASS', ftp.login(args.user, args.password), '230')
    expect('SYST', ftp.sendcmd('SYST'), '215')
    feat = expect('FEAT', ftp.sendcmd('FEAT'), '211')
    for feature in ['EPSV', 'EPRT', 'MDTM', 'MLST', 'REST STREAM', 'SIZE', 'UTF8']:
        if feature not in feat:
            raise SystemExit(f'FEAT does not list {feature}: {feat!r}')
    if args.tls and 'AUTH TLS' not in feat:
        raise SystemExit(f'FEAT does not list AUTH TLS: {feat!r}')
    expect('HELP', ftp.sendcmd('HELP'), '214')
    expect('OPTS UTF8 ON', ftp.sendcmd('OPTS UTF8 ON'), '200')
    expect('NOOP', ftp.sendcmd('NOOP'), '200')
    expect('STAT', ftp.sendcmd('STAT'), '211')
    expect('TYPE A', ftp.sendcmd('TYPE A'), '200')
    expect('TYPE I', ftp.sendcmd('TYPE I'), '200')
    expect('MODE S', ftp.sendcmd('MODE S'), '200')
    expect_error('MODE B', lambda: ftp.sendcmd('MODE B'), '504')
    expect('STRU F', ftp.sendcmd('STRU F'), '200')
    expect('PWD', ftp.sendcmd('PWD'), '257 "/"')

    base = 'py-tls' if args.tls else 'py'
    expect('MKD', ftp.sendcmd(f'MKD {base}'), '257')
    expect('CWD', ftp.sendcmd(f'CWD {base}'), '250')
    expect('PWD in dir', ftp.sendcmd('PWD'), f'257 "/{base}"')
    name = 'données é.bin'  # UTF-8 and a space
    payload = os.urandom(3 * 1024 * 1024 + 12345)
    digest = hashlib.sha256(payload).hexdigest()
    expect('STOR', ftp.storbinary(f'STOR {name}', io.BytesIO(payload)), '226')
    expect('SIZE', ftp.sendcmd(f'SIZE {name}'), f'213 {len(payload)}')
    expect('MDTM', ftp.sendcmd(f'MDTM {name}'), '213 ')
    mlst = expect('MLST', ftp.sendcmd(f'MLST {name}'), '250')
    if f'size={len(payload)};' not in mlst or 'type=file;' not in mlst or 'perm=' not in mlst or 'modify=' not in mlst:
        raise SystemExit(f'MLST facts missing: {mlst!r}')
    facts = dict(ftp.mlsd())
    step('MLSD', json.dumps(facts, ensure_ascii=False))
    if facts.get(name, {}).get('size') != str(len(payload)) or facts[name].get('type') != 'file':
        raise SystemExit(f'MLSD does not show {name}: {facts!r}')
    lines: list[str] = []
    expect('LIST', ftp.retrlines('LIST', lines.append), '226')
    step('LIST lines', json.dumps(lines, ensure_ascii=False))
    if not any(line.startswith('-rw') and line.endswith(f' {name}') and f' {len(payload)} ' in line for line in lines):
        raise SystemExit(f'LIST does not show {name}: {lines!r}')
    names = ftp.nlst()
    step('NLST', json.dumps(names, ensure_ascii=False))
    if names != [name]:
        raise SystemExit(f'NLST: {names!r}')

    got = bytearray()
    expect('RETR', ftp.retrbinary(f'RETR {name}', got.extend), '226')
    if hashlib.sha256(got).hexdigest() != digest:
        raise SystemExit('RETR bytes differ')
    tail = bytearray()
    offset = 1_000_001
    expect('REST + RETR', ftp.retrbinary(f'RETR {name}', tail.extend, rest=offset), '226')
    if bytes(tail) != payload[offset:]:
        raise SystemExit('REST + RETR bytes differ')

    extra = os.urandom(200_000)
    expect('APPE', ftp.storbinary(f'APPE {name}', io.BytesIO(extra)), '226')
    got = bytearray()
    ftp.retrbinary(f'RETR {name}', got.extend)
    if bytes(got) != payload + extra:
        raise SystemExit('APPE: stored bytes differ')
    whole = payload + extra

    # An upload aborted half-way keeps nothing visible; SIZE tells what is
    # kept, and REST + STOR resumes it.
    big = os.urandom(8 * 1024 * 1024)
    conn = ftp.transfercmd('STOR aborted.bin')
    conn.sendall(big[: 2 * 1024 * 1024])
    # sendall returns once the kernel holds the bytes; ABOR only after the
    # server has read some (STAT tells), so there is a partial to resume.
    moved = 0
    for _ in range(200):
        status = expect('STAT (during STOR)', ftp.sendcmd('STAT'), '213')
        moved = int(status.split(' in progress: ')[1].split()[0])
        if moved > 0:
            break
        time.sleep(0.05)
    if moved == 0:
        raise SystemExit('STAT: the server read nothing of the upload in 10 s')
    abort_reply = ftp.abort()
    step('ABOR (during STOR)', abort_reply)
    conn.close()
    if not abort_reply.startswith('426'):
        raise SystemExit(f'ABOR: {abort_reply!r}')
    expect('ABOR ok', ftp.getresp(), '226')
    if 'aborted.bin' in ftp.nlst():
        raise SystemExit('an aborted upload is visible')
    kept = int(expect('SIZE of the partial', ftp.sendcmd('SIZE aborted.bin'), '213').split()[1])
    if f'{kept} bytes are kept' not in abort_reply or kept < moved:
        raise SystemExit(f'SIZE {kept} disagrees with the 426 ({abort_reply!r}) or with STAT ({moved})')
    expect_error('REST at a wrong offset + STOR', lambda: ftp.storbinary('STOR aborted.bin', io.BytesIO(big[kept + 1:]), rest=kept + 1), '554')
    expect('REST + STOR', ftp.storbinary('STOR aborted.bin', io.BytesIO(big[kept:]), rest=kept), '226')
    got = bytearray()
    ftp.retrbinary('RETR aborted.bin', got.extend)
    if bytes(got) != big:
        raise SystemExit('REST + STOR: stored bytes differ')

    # Data connections of every kind: PASV, EPSV, PORT, EPRT.
    pasv = expect('PASV', ftp.sendcmd('PASV'), '227')
    step('PASV address', pasv)
    ftp.sendcmd('ABOR')  # drops the unused passive listener (225)
    epsv_port = int(expect('EPSV', ftp.sendcmd('EPSV'), '229').split('|')[3])
    data = socket.create_connection((args.host, epsv_port), timeout=30)
    expect('RETR over EPSV', ftp.sendcmd(f'RETR {name}'), '150')
    got = read_all(ftp, data, args.tls)
    expect('226 after EPSV', ftp.voidresp(), '226')
    if got != whole:
        raise SystemExit('RETR over EPSV: bytes differ')

    ftp.set_pasv(False)  # PORT
    got = bytearray()
    expect('PORT + RETR', ftp.retrbinary(f'RETR {name}', got.extend), '226')
    if bytes(got) != whole:
        raise SystemExit('RETR over PORT: bytes differ')
    ftp.set_pasv(True)
    listener = socket.create_server((args.host, 0))
    expect('EPRT', ftp.sendcmd(f'EPRT |1|{args.host}|{listener.getsockname()[1]}|'), '200')
    expect('NLST over EPRT', ftp.sendcmd('NLST'), '150')
    data, _ = listener.accept()
    listener.close()
    listed = read_all(ftp, data, args.tls).decode('utf-8').split('\r\n')
    expect('226 after EPRT', ftp.voidresp(), '226')
    if sorted(n for n in listed if n) != sorted(['aborted.bin', name]):
        raise SystemExit(f'NLST over EPRT: {listed!r}')
    expect_error('PORT to another address', lambda: ftp.sendcmd('PORT 10,9,8,7,100,1'), '504')
    expect_error('EPRT to another address', lambda: ftp.sendcmd('EPRT |1|10.9.8.7|25601|'), '504')

    expect('RNFR', ftp.sendcmd(f'RNFR {name}'), '350')
    expect('RNTO', ftp.sendcmd('RNTO renamed.bin'), '250')
    expect_error('RNTO without RNFR', lambda: ftp.sendcmd('RNTO again.bin'), '503')
    expect('DELE', ftp.sendcmd('DELE aborted.bin'), '250')
    expect_error('RETR of a missing file', lambda: ftp.retrbinary('RETR aborted.bin', lambda _: None), '550')
    expect('CDUP', ftp.sendcmd('CDUP'), '250')
    expect_error('RMD of a directory that is not empty', lambda: ftp.sendcmd(f'RMD {base}'), '550')
    expect('MKD empty', ftp.sendcmd(f'MKD {base}-empty'), '257')
    expect('RMD', ftp.sendcmd(f'RMD {base}-empty'), '250')
    expect_error('unknown command', lambda: ftp.sendcmd('XYZZY'), '500')
    if args.tls:
        expect('PROT C', ftp.sendcmd('PROT C'), '200')
        ftp.prot_c()
        got = bytearray()
        expect('RETR with PROT C', ftp.retrbinary(f'RETR {base}/renamed.bin', got.extend), '226')
        if bytes(got) != whole:
            raise SystemExit('RETR with PROT C: bytes differ')
    expect('QUIT', ftp.quit(), '221')
    print(json.dumps({'done': True, 'path': f'{base}/renamed.bin', 'sha256': hashlib.sha256(whole).hexdigest()}), flush=True)
    return 0


def read_all(ftp: FTP, data: socket.socket, tls: bool) -> bytes:
    """Reads a data connection to its end (TLS-wrapped when PROT P)."""
    if tls:
        data = ftp.context.wrap_socket(data, server_hostname=ftp.host)  # type: ignore[attr-defined]
    chunks = []
    with data:
        while True:
            chunk = data.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        if tls:
            try:
                data.unwrap()  # type: ignore[attr-defined]
            except (OSError, ValueError):
                pass
    return b''.join(chunks)


if __name__ == '__main__':
    sys.exit(main())
