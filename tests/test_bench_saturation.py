"""The saturation benchmark's rows pair each service with the servers they name.

No timing is asserted: these check which plans a row renders and which rows a
command line selects, before any load is sent.
"""

from __future__ import annotations

from bench.load import plan_of, selected
from bench.saturation import CLIENTS, GRANIAN_ROWS, IO_ROUTE, ROWS, SaturationRow

ROW = {row.key: row for row in ROWS}


def _servers(row: SaturationRow) -> tuple[tuple[str, str], tuple[str, str]]:
    """(server, worker class) of the generated service and of its bare twin's plan."""
    generated = plan_of(row.framework, row.render_answers())
    twin = plan_of(*row.twin_render())
    return (generated.server, generated.worker_class), (twin.server, twin.worker_class)


def test_the_granian_rows_face_the_servers_peers_ship() -> None:
    granian = ("granian", "")
    assert _servers(ROW["fastapi-granian"]) == (granian, ("uvicorn", ""))
    assert _servers(ROW["fastapi-granian-50"]) == (granian, ("uvicorn", ""))
    assert _servers(ROW["flask-granian"]) == (granian, ("gunicorn", "gevent"))
    assert _servers(ROW["flask-granian-50"]) == (granian, ("gunicorn", "gevent"))
    assert _servers(ROW["flask-granian-gthread"]) == (granian, ("gunicorn", "gthread"))


def test_the_mounted_route_rows_load_the_flask_app_against_bare_flask() -> None:
    for key, server in (("hybrid-mounted", "uvicorn"), ("hybrid-mounted-granian", "granian")):
        row = ROW[key]
        assert (row.framework, row.twin_framework) == ("hybrid", "flask")
        assert row.route != IO_ROUTE and row.route.endswith(IO_ROUTE.removeprefix("/v1"))
        assert _servers(row) == ((server, ""), ("gunicorn", "gthread"))


def test_the_50_client_rows_load_the_services_planned_for_1000() -> None:
    for key in ("fastapi-granian", "flask-granian"):
        light, heavy = ROW[f"{key}-50"], ROW[key]
        assert (light.clients, heavy.clients) == (50, CLIENTS)
        assert light.render_answers() == heavy.render_answers()


def test_the_granian_comparisons_keep_the_server_they_were_first_measured_on() -> None:
    fastapi = next(row for row in GRANIAN_ROWS if row.framework == "fastapi")
    assert plan_of("fastapi", fastapi.render_answers()).server == "uvicorn"


def test_rows_are_selected_by_any_of_several_prefixes() -> None:
    keys = [row.key for row in selected(ROWS, "fastapi-granian, hybrid-mounted")]
    assert keys == [
        "fastapi-granian",
        "hybrid-mounted",
        "hybrid-mounted-granian",
        "fastapi-granian-50",
    ]
    assert selected(ROWS, "") == list(ROWS)
    assert selected(ROWS, "no-such-row") == []
