"""localstripe, a fake but stateful Stripe server from PyPI, on loopback: for
the demo (`make demo`, port 8420) and for the tests (a free port).

    python -m demo.localstripe 8420   # start it unless it already runs; wait until it answers
"""

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_localstripe(port: int | None = None, *, log=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """Start localstripe (from this virtualenv) and wait until it accepts connections."""
    port = port or free_port()
    binary = Path(sys.executable).with_name("localstripe")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--from-scratch"], stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited at start (port {port} taken?)")
        if answers(port):
            return process, f"http://127.0.0.1:{port}"
        time.sleep(0.05)  # polling a socket: there is no event to wait on
    process.kill()
    raise RuntimeError("localstripe did not start within 30 s")


if __name__ == "__main__":
    demo_port = int(sys.argv[1]) if len(sys.argv) > 1 else 8420
    if answers(demo_port):
        print(f"localstripe already answers on 127.0.0.1:{demo_port}")
    else:
        Path("var").mkdir(exist_ok=True)
        with open("var/localstripe.log", "ab") as log:
            start_localstripe(demo_port, log=log)
        print(f"localstripe started on 127.0.0.1:{demo_port} (log: var/localstripe.log)")
