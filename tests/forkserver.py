"""A `speechseq` for the recipe tests that starts in milliseconds: each command runs in a fork of
one server process that has already imported speechseq and torch.

A recipe stage calls `speechseq` many times (a data split, one job per part, the merge, for every
set), and a fresh interpreter spends about 2 s of CPU importing torch before it does anything, so
the recipe tests spent most of their time starting Python. The shim that ``shim_text`` writes is
a small stdlib-only client: it hands the server its argv, working directory, environment and its
stdin/stdout/stderr descriptors (SCM_RIGHTS), the server forks, the fork runs the command exactly as
the console script does (``speechseq.cli.main:main``) on those descriptors, and the client exits
with the command's exit code, or dies of the same signal. SIGTERM/SIGINT/SIGHUP sent to the client
are passed on to the command.

Run as ``python tests/forkserver.py serve SOCKET`` (the server; prints ``ready`` once listening)
or ``python -I -S tests/forkserver.py client SOCKET ARGS...`` (what the shim runs).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

PRELOAD = (
    "speechseq.cli.main",
    "speechseq.features",
    "speechseq.asr.training",
    "speechseq.decode.run",
    "speechseq.data.ops",
    "kaldiio",
)


def shim_text(python: str, socket_path: str) -> str:
    """The text of an executable `speechseq` that runs its commands on the server at
    ``socket_path``."""
    return f'#!/usr/bin/env bash\nexec {python} -I -S {__file__} client {socket_path} "$@"\n'


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            raise EOFError("the client went away mid-request")
        data += more
    return json.loads(data), fds


def _run_command(req: dict, fds: list[int]) -> None:
    """In the grandchild: become the command and exit with its code."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = ["speechseq", *req["args"]]
    code = 1
    try:
        from speechseq.cli.main import main

        main()
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        os._exit(code)


def _serve_one(conn: socket.socket) -> None:
    """In a fork of the server: run the request in a child of its own, tell the client its pid,
    then how it ended (``exit N`` or ``signal N``)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    req, fds = _recv_request(conn)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_command(req, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        conn.sendall(f"signal {os.WTERMSIG(status)}\n".encode())
    else:
        conn.sendall(f"exit {os.WEXITSTATUS(status)}\n".encode())
    os._exit(0)


def serve(path: str) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(128)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the forks are reaped by the kernel
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        sys.stdout.flush()
        if os.fork() == 0:
            server.close()
            try:
                _serve_one(conn)
            finally:
                os._exit(1)
        conn.close()


def client(path: str, args: list[str]) -> int:
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:  # a closed standard stream: the command gets /dev/null there
            fds.append(os.open(os.devnull, os.O_RDWR))
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    req = {"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}
    socket.send_fds(conn, [json.dumps(req).encode() + b"\n"], fds)
    reader = conn.makefile("r")
    pid = int(reader.readline().split()[1])

    def forward(signum, _frame):
        os.kill(pid, signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    line = reader.readline().split()
    if not line:  # the server's fork died: say so as bash would
        print("speechseq (fork server): the command's process vanished", file=sys.stderr)
        return 1
    how, n = line[0], int(line[1])
    if how == "signal":
        signal.signal(n, signal.SIG_DFL)
        os.kill(os.getpid(), n)
        return 128 + n
    return n


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit(client(sys.argv[2], sys.argv[3:]))
