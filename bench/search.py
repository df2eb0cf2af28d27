"""The GTR desk's queries at 100,000 clients: search, a column page, the
column's total and the per-state summary, each the best of 3 runs, on a
scratch MariaDB/MySQL database of its own (dropped afterwards).

    python -m bench.search [--n 100000] [--url mysql+pymysql://root@127.0.0.1:3306/]

Prints one line per query (milliseconds)."""

from __future__ import annotations

import argparse
import random
import time
import uuid

from sqlalchemy import create_engine, func, insert, select, text

from core.clientes import search_clause
from core.models import Base, Cliente

FIRST = ["María", "José", "Rosa", "Luis", "Carmen", "Jorge", "Ana", "Pedro", "Lucía", "Carlos"]
LAST = ["Quispe", "Huamán", "Mamani", "Flores", "Rojas", "Díaz", "Torres", "Chávez", "Ramos"]
ESTADOS = ["nuevo"] * 6 + ["derivado", "no_gestionado", "gestionado", "cerrado"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = ap.parse_args()
    name = f"albru_search_{uuid.uuid4().hex[:8]}"
    server = create_engine(args.url)
    with server.begin() as c:
        c.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    eng = create_engine(f"{args.url.rstrip('/')}/{name}?charset=utf8mb4")
    try:
        Base.metadata.create_all(eng)
        now = time.time()
        rows = [{"nombre": f"{random.choice(FIRST)} {random.choice(LAST)} {i}",
                 "telefono": f"+51 9{i:08d}", "documento": f"{40_000_000 + i}",
                 "estado": random.choice(ESTADOS), "lock_token": 0,
                 "updated_at": now - random.random() * 86_400} for i in range(args.n)]
        with eng.begin() as c:
            for k in range(0, len(rows), 5000):
                c.execute(insert(Cliente), rows[k:k + 5000])

        def best(label: str, stmt) -> None:
            with eng.connect() as c:
                c.execute(stmt).all()
                runs = []
                for _ in range(3):
                    t = time.perf_counter()
                    c.execute(stmt).all()
                    runs.append(time.perf_counter() - t)
            print(f"{label:<40} {min(runs) * 1000:8.1f} ms")

        print(f"{args.n} clients")
        nuevo = Cliente.estado.in_(["nuevo"])
        oldest = (Cliente.updated_at, Cliente.id)
        for q in ("Quispe", "María Q", "+51 9000123", "40001234", "#5000", "zzz", "J"):
            cond = search_clause(q)
            best(f"search {q!r}: total", select(func.count(Cliente.id)).where(cond))
            best(f"search {q!r}: page", select(Cliente).where(cond, nuevo).order_by(*oldest)
                 .limit(25))
        best("Nuevos: first page (oldest)", select(Cliente).where(nuevo).order_by(*oldest)
             .limit(25))
        best("Nuevos: page at offset n/2", select(Cliente).where(nuevo).order_by(*oldest)
             .limit(25).offset(args.n // 2))
        best("Nuevos: total", select(func.count(Cliente.id)).where(nuevo))
        best("summary (count, oldest per state)",
             select(Cliente.estado, func.count(Cliente.id), func.min(Cliente.updated_at))
             .group_by(Cliente.estado))
    finally:
        eng.dispose()
        with server.begin() as c:
            c.execute(text(f"DROP DATABASE {name}"))


if __name__ == "__main__":
    main()
