"""The session engine's rules, in plain Python.

Nothing here imports Flask, Celery, SQLAlchemy or Redis: these modules say what
the system does (the spec), and `core/` says how it is stored and delivered.
"""
