"""A TCP proxy that tests switch between passing, refusing, hanging and dropping.

It listens on 127.0.0.1 on a port the kernel chooses and forwards to one target
(PostgreSQL). Modes:

- ``pass``: bytes flow both ways.
- ``refuse``: the listening socket is closed, so connecting fails at once
  (connection refused); existing connections are reset.
- ``hang``: connections are accepted and kept open but nothing is forwarded either
  way, like a frozen server or a black-holing network; the kernel still ACKs.
- ``drop``: every open connection is reset now, and each new one is reset as soon as
  it sends its first bytes.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time

MODES = ("pass", "refuse", "hang", "drop")


def _reset(sock: socket.socket) -> None:
    """Close with RST, not FIN: the peer sees the connection cut, mid-statement."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class FaultProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "pass"
        self.port = 0
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    # --- control -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._listen()
        threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self._reset_all()

    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        previous, self.mode = self.mode, mode
        if mode in ("refuse", "drop"):
            self._reset_all()
        if mode == "refuse":
            self._close_listener()
        elif previous == "refuse":
            self._listen()

    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    # --- internals -----------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):  # the old listener may linger while accept() wakes up
            try:
                sock.bind(("127.0.0.1", self.port))  # 0 the first time: the kernel chooses
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.05)
        sock.listen(64)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self._listener = sock

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop up now
            except OSError:
                pass
            listener.close()

    def _reset_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _reset(client)
            _reset(server)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._pairs.append((client, server))
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        try:
            while not self._stopped.is_set():
                if self.mode == "hang":
                    time.sleep(0.05)  # hold everything: nobody reads, nobody writes
                    continue
                for key, _ in selector.select(timeout=0.1):
                    if self.mode == "drop":
                        raise ConnectionResetError
                    if self.mode == "hang":
                        break
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        raise ConnectionResetError
                    key.data.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            selector.close()
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))
            _reset(client)
            _reset(server)
