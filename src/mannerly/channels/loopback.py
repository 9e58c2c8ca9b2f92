"""Serve an ASGI app on a free loopback port in a background thread (for the providers' fake servers)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class LoopbackServer:
    """One ASGI app on 127.0.0.1 (or another loopback host) and an OS-assigned port."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", name: str = "loopback-server") -> None:
        """Not listening until start()."""
        self.app = app
        self.host = host
        self.name = name
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port it listens on (after start)."""
        if self._socket is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._socket.getsockname()[1]

    def start(self) -> None:
        """Bind a free port and serve in a daemon thread; returns once the server accepts connections."""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, 0))
        config = uvicorn.Config(self.app, log_level="critical", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=self.name, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(5)
            self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
