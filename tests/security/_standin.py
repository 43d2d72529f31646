"""A stand-in host: a TCP listener on loopback that records every byte anyone sends it.

An attacker who can point mailwarden somewhere would point it at a host like this; a test
drives the attack and then asserts the stand-in heard nothing (no connection, not one byte).
It never answers, so a TLS client that reaches it fails its handshake after sending its hello.
"""

from __future__ import annotations

import selectors
import socket
import threading
from types import TracebackType


class StandIn:
    """``with StandIn() as host:`` -> ``host.url``; afterwards ``host.connections``, ``host.received``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self.connections = 0
        self.received = bytearray()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._turned = threading.Condition()
        self._turns = 0
        self._thread = threading.Thread(target=self._serve, name="stand-in-host", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def heard(self) -> bytes:
        """Everything received so far, once the listener has taken in what was already queued.

        Waits for two more turns of the listening loop (each takes in every connection and byte
        that is waiting), so whatever a client sent before this call is counted.
        """
        with self._turned:
            target = self._turns + 2
            assert self._turned.wait_for(lambda: self._turns >= target or self._stop.is_set(), timeout=10)
        with self._lock:
            return bytes(self.received)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, OSError):
                return
            conn.setblocking(False)
            with self._lock:
                self.connections += 1
            self._selector.register(conn, selectors.EVENT_READ)

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            with self._lock:
                self.received += data
            return
        self._selector.unregister(conn)
        conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                else:
                    self._read(sock)
            with self._turned:
                self._turns += 1
                self._turned.notify_all()

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        for key in list(self._selector.get_map().values()):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sock.close()
        self._selector.close()
