"""Serve a :class:`~m365sandbox.core.Sandbox` over TLS from a daemon thread."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from m365sandbox.app import RawSendMarker, build_app
from m365sandbox.core import Sandbox
from m365sandbox.state import CLOUD_RESOURCES
from m365sandbox.tls import write_tls_files


class SandboxServer:
    """``with SandboxServer(sb) as srv:`` -> ``srv.url``, ``srv.ca_file``, ``srv.endpoints(cloud)``."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0,
                 state_dir: str | Path | None = None, *, startup_timeout: float = 20.0) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="m365-sandbox-")
            state_dir = self._tmp.name
        self.state_dir = Path(state_dir)
        self.tls = write_tls_files(self.state_dir / "tls", (host, "localhost", "127.0.0.1"))
        self.startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def ca_file(self) -> str:
        """PEM of the sandbox's CA (give it to msal/httpx as ``verify``)."""
        return str(self.tls.ca_file)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        config = uvicorn.Config(RawSendMarker(build_app(self.sandbox)), host=self.host, port=self.port,
                                ssl_certfile=str(self.tls.cert_file), ssl_keyfile=str(self.tls.key_file),
                                log_level="warning", lifespan="off", access_log=False,
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="m365-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for idle keep-alive clients
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def endpoints(self, cloud: str = "global") -> dict[str, Any]:
        """The cloud's endpoints with every URL pointed at this server; the token audiences
        (``graph_resource``, ``exchange_resource``) stay the cloud's own."""
        graph, exchange = CLOUD_RESOURCES[cloud]
        return {"cloud": cloud, "login_url": self.url, "graph_url": self.url, "exchange_url": self.url,
                "graph_resource": graph, "exchange_resource": exchange,
                "supports_message_rules": cloud != "china"}
