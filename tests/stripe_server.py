"""A real localstripe process on a free loopback port, for the test session."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_localstripe() -> tuple[subprocess.Popen, str]:
    port = free_port()
    binary = Path(sys.executable).with_name("localstripe")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for it to accept connections
        if process.poll() is not None:
            raise RuntimeError("localstripe exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("localstripe did not start within 30 s")
