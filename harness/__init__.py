"""What the tests and the benchmarks share: which database and Redis to use
(`harness.backends`), the real system as processes (`harness.stack`: web,
Celery worker and beat), and private Redis/MariaDB servers a fault may kill
(`harness.services`). Nothing here imports `tests` or `bench`."""
