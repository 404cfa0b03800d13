"""The database benchmarks' pure parts: URLs, the waiting view, plans, medians and tables.

No timing is asserted; the waiting view is checked against a real PostgreSQL by what it
returns and by the plan PostgreSQL makes for it, not by how long it takes.
"""

from __future__ import annotations

import math

import psycopg
import pytest

from bench.database import ROWS, DatabaseResult, missed_goals, pool_size, table
from bench.database_seed import ROWS as SEED_ROWS
from bench.drivers import DriverSpeed, DriversResult, driver_url
from bench.drivers import table as drivers_table
from bench.load import LoadReport, plan_of
from bench.postgres import database_url, wait_view
from bench.saturation import AppRun

from .postgres_cluster import postgres_cluster


def test_database_url_swaps_only_the_database_name() -> None:
    url = "postgresql://postgres:pw@127.0.0.1:5432/postgres"
    assert database_url(url, "bench_wait") == "postgresql://postgres:pw@127.0.0.1:5432/bench_wait"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_driver_url_names_the_driver_and_keeps_the_rest(scheme: str) -> None:
    url = f"{scheme}://u:p@db:5432/app"
    assert driver_url(url, "asyncpg", "?sslmode=require") == (
        "postgresql+asyncpg://u:p@db:5432/app?sslmode=require"
    )
    assert driver_url(url, "psycopg") == "postgresql+psycopg://u:p@db:5432/app"


@pytest.mark.parametrize("url", ["mysql://u:p@db/app", "not a url"])
def test_driver_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not a postgresql:// URL"):
        driver_url(url, "psycopg")


def test_the_rows_get_the_plans_they_are_named_after() -> None:
    worker_classes = {
        row.key: plan_of(row.framework, row.render_answers()).worker_class for row in ROWS
    }
    assert worker_classes["flask-gthread"] == "gthread"
    assert worker_classes["flask-gevent"] == "gevent"
    fastapi = plan_of("fastapi", ROWS[0].render_answers())
    assert (fastapi.server, fastapi.workers) == ("granian", 1)
    # Two servers side by side must fit the test cluster's max_connections=200.
    assert all(2 * pool_size(row.framework, row.render_answers()) < 200 for row in ROWS)


def test_seed_rows_are_titled_with_their_plan_or_their_override() -> None:
    titles = {row.key: row.title(50) for row in SEED_ROWS}
    assert titles["flask-gthread"] == "Flask: Gunicorn gthread, 1 worker x 50 threads, pool 50"
    assert titles["flask-gevent"].startswith("Flask: Gunicorn gevent, 1 worker, pool ")
    assert titles["flask-sync1"].endswith("1 sync worker (seed's setup), pool 1 per worker")


def _run(rps: float, non_2xx: int = 0, cpu_ms: float = 1.0) -> AppRun:
    return AppRun(LoadReport(rps, 10.0, 20.0, 30.0, 40.0, non_2xx, 0), cpu_ms)


def test_the_ratio_is_the_median_of_the_rounds_ratios_and_the_goal_is_checked() -> None:
    result = DatabaseResult(
        ROWS[0],
        {
            50: [(_run(90), _run(100)), (_run(80), _run(100)), (_run(300), _run(100))],
            1000: [(_run(50, non_2xx=7), _run(100, non_2xx=1))],
        },
    )
    assert math.isclose(result.ratio(50), 0.9)
    assert result.failed(1000, 0) == "7 + 0"
    assert missed_goals([result]) == [
        "database route below 85 % of the twin at 1000 clients: FastAPI: 50.0 %"
    ]
    lines = table([result]).splitlines()
    assert len(lines) == 4  # header, alignment, one line per client count
    assert "| 50 | 90 | 100 | 90.0 % | yes |" in lines[2]
    assert "| 1000 | 50 | 100 | 50.0 % | no |" in lines[3]
    assert lines[3].endswith("| 7 + 0 / 1 + 0 |")


def test_driver_speed_is_the_median_round() -> None:
    speed = DriverSpeed("psycopg", "3.3", [(100, 1.0, 0.5), (300, 1.0, 0.6), (200, 1.0, 0.2)])
    assert speed.rps == 200
    assert math.isclose(speed.cpu_us_per_read, 2000)
    text = drivers_table(
        DriversResult([speed], {"?sslmode=require": {"psycopg": "a|b", "asyncpg": "c"}})
    )
    assert "| psycopg (3.3) | 200 | 2000 |" in text
    assert "| `?sslmode=require` | a\\|b | c |" in text


def test_the_wait_view_waits_once_per_row_read() -> None:
    with (
        postgres_cluster() as cluster,
        psycopg.connect(cluster.url(), autocommit=True) as connection,
    ):
        connection.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        connection.execute("INSERT INTO items VALUES (1, 'a'), (2, 'b')")
        for statement in wait_view(1):
            connection.execute(statement)
        assert connection.execute("SELECT name FROM items WHERE id = 2").fetchall() == [("b",)]
        plan = connection.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT name FROM items WHERE id = 2"
        ).fetchone()
    assert plan is not None
    [(loops, calls)] = [
        (node["Actual Loops"], node["Actual Rows"])
        for node in _nodes(plan[0][0]["Plan"])
        if node["Node Type"] == "Result"
    ]
    assert (loops, calls) == (1, 1)


def _nodes(node: dict[str, object]) -> list[dict[str, object]]:
    children = node.get("Plans", [])
    assert isinstance(children, list)
    return [node, *(found for child in children for found in _nodes(child))]
