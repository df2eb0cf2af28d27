"""The web process: `python -m app.server` (REST + Socket.IO on PORT).

Monkey-patching must come before anything imports sockets or threads, which
is why app/__init__.py imports nothing heavy. One process per container:
Flask-SocketIO keeps each connection in one process; scale with replicas
behind a sticky load balancer, all sharing the Redis message queue.

SIGTERM (docker stop, a rolling update) closes every Socket.IO connection's
transport first, so clients see a transport close and reconnect by themselves
(through the load balancer, to a replica that is still up), then exits 0. A
Socket.IO or Engine.IO "disconnect" message would tell some clients to stay away."""

from __future__ import annotations

import gc
import logging
import os
import resource
import signal
import sys
import warnings

log = logging.getLogger("albru.server")
#: Time given to the close frames to leave before the process exits.
DRAIN_SECONDS = 0.5


class _Gate:
    """WSGI middleware: once stopping, every new request (a reconnecting socket
    included) gets 503, so nginx and clients go to another replica instead of
    coming back to this one during its last second."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.closed = False

    def __call__(self, environ, start_response):
        if self.closed:
            start_response("503 Service Unavailable", [
                ("Content-Type", "application/json"), ("Connection", "close"),
                ("Retry-After", "1")])
            return [b'{"error": "unavailable", "message": "this web process is stopping"}']
        return self.wsgi_app(environ, start_response)


def _drain_and_exit(sio, gate: _Gate) -> None:
    """Runs as a Socket.IO background task (a green thread under eventlet)."""
    gate.closed = True
    eio = sio.server.eio if sio.server else None
    count = len(eio.sockets) if eio else 0
    log.info("SIGTERM: closing %d Socket.IO connection(s) and exiting", count)
    try:
        for sock in list(eio.sockets.values()) if eio else ():
            # abort: no Engine.IO "close" packet, just the transport going away,
            # which every client (JS and Python) answers by reconnecting.
            sock.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)
        sio.sleep(DRAIN_SECONDS)
    except Exception:  # noqa: BLE001 - exiting matters more than a tidy close
        log.exception("closing connections failed")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def install_graceful_stop(app, sio) -> None:
    gate = _Gate(app.wsgi_app)
    app.wsgi_app = gate
    stopping = False

    def on_signal(signum: int, _frame) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        # A signal handler may interrupt the event loop itself: hand the work to
        # a task of the async mode instead of doing network I/O here.
        sio.start_background_task(_drain_and_exit, sio, gate)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def main() -> None:
    from core.settings import Settings

    settings = Settings.from_env()
    if settings.async_mode == "eventlet":
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import eventlet

        eventlet.monkey_patch()
        import eventlet.wsgi

        eventlet.wsgi.RESPONSE_414 = URI_TOO_LONG  # read at call time: JSON, not an empty 414
    elif settings.async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()

    from app import create_app
    from app.sockets import socketio

    app = create_app(settings, role="web")
    install_graceful_stop(app, socketio)
    raise_open_files_limit()
    freeze_startup_objects()
    log.info("web process listening on %s:%s (%s)", settings.host, settings.port,
             settings.async_mode)
    if settings.async_mode == "gevent":
        serve_gevent(app, settings.host, settings.port)
        return
    socketio.run(app, host=settings.host, port=settings.port, log_output=False,
                 allow_unsafe_werkzeug=settings.async_mode == "threading")


def raise_open_files_limit() -> None:
    """Soft open-files limit up to the hard one. Why: every open desk holds a
    websocket, one file each, and Docker engines since 25 start containers with
    a soft limit of 1,024 (hard 524,288): a replica refused sockets past ~1,000.
    Raising the soft limit needs no privilege; the hard one is the host's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:
            log.warning("open files stay at %d (could not raise to %d: %s)", soft, hard, exc)


def freeze_startup_objects() -> None:
    """Move every object alive after start-up (modules, the app, SQLAlchemy's
    mappers: ~150,000) out of the garbage collector's reach. Why: a full
    collection walked them all (30–90 ms here: bench/gcpause.py), and with one event
    loop per process every request in flight waited for it (a heartbeat's p99
    tail). The same as the worker does before forking (tasks/worker.py)."""
    gc.collect()
    gc.freeze()


#: What the WSGI server answers itself (the app never sees the request) when a
#: request line is longer than it reads (8 KiB): the API's JSON error shape.
_TOO_LONG_BODY = (b'{"error":"uri_too_long","message":"the request line is longer than '
                  b'8192 bytes"}')
URI_TOO_LONG = (b"HTTP/1.1 414 Request-URI Too Long\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(_TOO_LONG_BODY)).encode() + b"\r\n\r\n" + _TOO_LONG_BODY)


def serve_gevent(app, host: str, port: int) -> None:
    """gevent's pywsgi, with TCP_NODELAY on every connection. Without it a
    response written in two pieces waits for the client's delayed ACK: we
    measured a 44 ms floor per request (Nagle), eventlet sets it already."""
    import socket

    from gevent import pywsgi

    from app.sockets import socketio

    class Handler(pywsgi.WSGIHandler):
        def handle_one_request(self):
            result = super().handle_one_request()
            if isinstance(result, tuple) and str(result[0]) == "414":
                return ("414", URI_TOO_LONG)
            return result

        def run_application(self):
            super().run_application()
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                # The socket was a WebSocket: it must not be read as the next
                # keep-alive HTTP request (the client's close frame would be
                # parsed as one, and its close handshake would stall).
                self.close_connection = True

    class NoDelayServer(pywsgi.WSGIServer):
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, address)

    socketio.wsgi_server = NoDelayServer((host, port), app, log=None, handler_class=Handler)
    socketio.wsgi_server.serve_forever()


if __name__ == "__main__":
    main()
