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
    socketio.run(app, host=settings.host, port=settings.port, log_output=False,
                 allow_unsafe_werkzeug=settings.async_mode == "threading")


if __name__ == "__main__":
    main()
