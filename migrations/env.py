"""Alembic environment for `flask --app app db ...`: the engine and metadata
are the app's own (core.db, core.models), so migrations run against exactly
the database the processes use."""

from __future__ import annotations

import logging

from alembic import context
from flask import current_app

log = logging.getLogger("alembic.env")
config = context.config
target = current_app.extensions["migrate"].db  # app.factory.SchemaTarget


def run_migrations_offline() -> None:
    """`db upgrade --sql`: print the DDL instead of running it."""
    context.configure(url=target.engine.url.render_as_string(hide_password=False),
                      target_metadata=target.metadata, literal_binds=True,
                      **current_app.extensions["migrate"].configure_args)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty(_context, _revision, directives) -> None:
        """`db migrate` with no model change writes no empty revision."""
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("no changes in schema detected")

    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", skip_empty)
    with target.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target.metadata, **args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
