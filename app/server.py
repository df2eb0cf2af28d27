"""The web process: `python -m app.server` (REST + Socket.IO on PORT).

Monkey-patching must come before anything imports sockets or threads, which
is why app/__init__.py imports nothing heavy. One process per container:
Flask-SocketIO keeps each connection in one process; scale with replicas
behind a sticky load balancer, all sharing the Redis message queue."""

from __future__ import annotations


def main() -> None:
    from app.settings import Settings

    settings = Settings.from_env()
    if settings.async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif settings.async_mode == "gevent":
        from gevent import monkey

        monkey.patch_all()

    from app import create_app
    from app.sockets import socketio

    app = create_app(settings, role="web")
    if settings.async_mode == "gevent":
        serve_gevent(app, settings.host, settings.port)
        return
    socketio.run(app, host=settings.host, port=settings.port, log_output=False,
                 allow_unsafe_werkzeug=settings.async_mode == "threading")


def serve_gevent(app, host: str, port: int) -> None:
    """gevent's pywsgi, with TCP_NODELAY on every connection. Without it a
    response written in two pieces waits for the client's delayed ACK: we
    measured a 44 ms floor per request (Nagle), eventlet sets it already."""
    import socket

    from gevent import pywsgi

    from app.sockets import socketio

    class Handler(pywsgi.WSGIHandler):
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
