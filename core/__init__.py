"""Storage and delivery of the session engine: SQLAlchemy models, the Redis
session cache, the event publisher and the use cases that tie them to the
rules in `domain/`. No Flask and no Celery here either: both edges call in."""
