"""The database tables' PostgreSQL: tests/postgres_cluster.py's server, pinned to core 1.

PostgreSQL shares this machine with the servers and the load generators. It runs on
core 1, beside `hey`, so that core 0 stays the server's alone: the server's CPU per
request and the ratio to its twin measure the service, and PostgreSQL's own work
competes with the load generator, not with the app. The postmaster is pinned once it
has started; the backends it forks later for each connection inherit its CPU set.

Every service reads the same row (ITEM_ID) through its own migrations' schema.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from bench.load import CLIENT_CORE, Service
from tests.harness import service_env
from tests.postgres_cluster import Cluster, postgres_cluster

ITEM_ID = 1
ITEM_PATH = f"/v1/items/{ITEM_ID}"
# The database where `items` is a view that waits in PostgreSQL before each row: the seed's
# 50 ms of I/O, as a real query that holds a pooled connection (bench.database_seed).
WAIT_DATABASE = "bench_wait"
PACKAGE = "orders_api"  # the package name render_service gives every service


def database_url(url: str, name: str) -> str:
    """``url`` (a postgresql:// URL without a query) pointed at database ``name``."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def wait_view(delay_ms: int) -> list[sql.SQL | sql.Composed]:
    """SQL that turns the migrated ``items`` table into a view that waits ``delay_ms``.

    pg_sleep is volatile, so the planner evaluates the lateral subquery once per row
    read: a SELECT by primary key waits once.
    """
    return [
        sql.SQL("ALTER TABLE items RENAME TO items_data"),
        sql.SQL(
            "CREATE VIEW items AS SELECT item.* FROM items_data AS item "
            "CROSS JOIN LATERAL (SELECT pg_sleep({})) AS wait"
        ).format(sql.Literal(delay_ms / 1000)),
    ]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The parent id is the second field after the parenthesised command.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def pin(cluster: Cluster, core: str = CLIENT_CORE) -> None:
    """The postmaster and the processes it has started, on ``core``."""
    leader = int((cluster.data / "postmaster.pid").read_text().split()[0])
    for pid in (leader, *_children(leader)):
        subprocess.run(
            ["taskset", "-a", "-p", "-c", core, str(pid)], check=True, capture_output=True
        )


@contextlib.contextmanager
def bench_postgres() -> Iterator[Cluster]:
    """A fresh password-protected cluster on a loopback port, pinned to core 1."""
    with postgres_cluster() as cluster:
        pin(cluster)
        yield cluster


def migrate(service: Service, url: str) -> None:
    """The service's own migration command (`python -m <pkg>.migrate`) against ``url``."""
    env = {**service_env(service.project, service.bin_dir), "APP_DATABASE_URL": url}
    done = subprocess.run(
        [str(service.bin_dir / "python"), "-m", f"{PACKAGE}.migrate"],
        cwd=service.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migration of {service.project} failed:\n{done.stderr}")


def insert_item(url: str) -> None:
    """The row every database route reads (kept if it is there already)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO items (id, name, price, tags) VALUES (%s, 'Espresso cup', 12.50, "
            "ARRAY['kitchen']) ON CONFLICT DO NOTHING",
            (ITEM_ID,),
        )


def prepared_database(service: Service, cluster: Cluster) -> str:
    """The URL of the cluster's default database, migrated by ``service``, with the row."""
    url = cluster.url()
    migrate(service, url)
    insert_item(url)
    return url


def prepared_wait_database(service: Service, cluster: Cluster, delay_ms: int) -> str:
    """The URL of WAIT_DATABASE: migrated, with the row, ``items`` a view that waits."""
    url = database_url(cluster.url(), WAIT_DATABASE)
    with psycopg.connect(cluster.url(), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (WAIT_DATABASE,)
        ).fetchone()
        if exists:
            return url
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(WAIT_DATABASE)))
    migrate(service, url)
    insert_item(url)
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in wait_view(delay_ms):
            connection.execute(statement)
    return url
