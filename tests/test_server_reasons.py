"""Every reason the server plan gives is true of the plan it explains (#25 item 13).

Each claim a reason can make is a pattern with the check it implies; a property test
walks the answer space and holds every reason of every plan to its checks. A reason
that matches no known claim fails too, so a new reason comes with its check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, get_args

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from apistarter.questions import FRAMEWORKS, DecisionAnswers, Framework
from apistarter.server import SERVERS_FOR, ServerPlan, plan_server

Check = Callable[[ServerPlan, DecisionAnswers, re.Match[str]], bool]


def _in_flight_per_worker(plan: ServerPlan, answers: DecisionAnswers) -> int:
    return math.ceil(answers.peak_concurrency / plan.workers)


def _number(group: int, value: Callable[[ServerPlan], int]) -> Check:
    return lambda plan, _answers, match: int(match.group(group)) == value(plan)


CLAIMS: dict[str, Check] = {
    # Thread pools and the peak they are said to hold.
    r"can hold the whole peak": lambda plan, answers, _: plan.threads >= answers.peak_concurrency,
    r"holds at most (\d+) of the peak of (\d+)": lambda plan, answers, match: (
        int(match.group(1)) == plan.threads < answers.peak_concurrency == int(match.group(2))
    ),
    r"(\d+) x (\d+) = (\d+) threads hold less than the peak of (\d+)": lambda plan, answers, m: (
        (int(m.group(1)), int(m.group(2))) == (plan.workers, plan.threads)
        and int(m.group(3)) == plan.workers * plan.threads < answers.peak_concurrency
        and int(m.group(4)) == answers.peak_concurrency
    ),
    r"do not queue": lambda plan, answers, _: plan.threads >= _in_flight_per_worker(plan, answers),
    r"at the peak a worker has (\d+) requests in flight": lambda plan, answers, match: (
        int(match.group(1)) == _in_flight_per_worker(plan, answers) > plan.threads
    ),
    r"(\d+) threads per worker": _number(1, lambda plan: plan.threads),
    # Processes.
    r"(\d+) gthread worker\(s\) x (\d+) threads": lambda plan, _, match: (
        plan.worker_class == "gthread"
        and (int(match.group(1)), int(match.group(2))) == (plan.workers, plan.threads)
    ),
    r"(\d+) sync worker\(s\), one per core": lambda plan, answers, match: (
        plan.worker_class == "sync" and int(match.group(1)) == plan.workers == answers.cpus
    ),
    r"gevent workers hold many waiting requests": lambda plan, _a, _m: (
        plan.worker_class == "gevent"
    ),
    r"one Uvicorn process per pod": lambda plan, _a, _m: (
        plan.server == "uvicorn" and plan.workers == 1
    ),
    r"one (Gunicorn|Granian) process per pod": lambda plan, _a, match: (
        plan.server == match.group(1).lower() and plan.workers == 1
    ),
    r"Granian supervises (\d+) worker process\(es\), one event loop per core": (
        lambda plan, answers, match: (
            plan.server == "granian" and int(match.group(1)) == plan.workers == answers.cpus
        )
    ),
    r"server=(\w+)": lambda plan, _a, match: plan.server == match.group(1),
    r"keeps serving the (\d+) s shutdown delay": _number(1, lambda plan: plan.shutdown_delay),
    r"head over (\d+) bytes \(WEB_MAX_HEADER_BYTES\)": _number(
        1, lambda plan: plan.max_header_bytes
    ),
    r"a client gets (\d+) s \(WEB_KEEPALIVE\)": _number(1, lambda plan: plan.keepalive),
    r"Uvicorn supervises (\d+) worker process\(es\), one event loop per core": (
        lambda plan, answers, match: (
            plan.server == "uvicorn" and int(match.group(1)) == plan.workers == answers.cpus
        )
    ),
    r"Gunicorn supervises (\d+) \S+ process\(es\), one event loop per core": (
        lambda plan, answers, match: (
            plan.server == "gunicorn" and int(match.group(1)) == plan.workers == answers.cpus
        )
    ),
    # Timeouts.
    r"graceful shutdown gets (\d+) s": _number(1, lambda plan: plan.graceful_timeout),
    r"keeps serving (\d+) s": _number(1, lambda plan: plan.shutdown_delay),
    r"no shutdown delay": lambda plan, _a, _m: plan.shutdown_delay == 0,
    r"keep-alive (\d+) s": _number(1, lambda plan: plan.keepalive),
    r"worker timeout (\d+) s": _number(1, lambda plan: plan.timeout),
    # The front proxy.
    r"nginx in front": lambda plan, _a, _m: plan.front_proxy is not None,
    r"nginx also holds slow clients": lambda plan, _a, _m: plan.front_proxy is not None,
    r"no proxy needed": lambda plan, _a, _m: plan.front_proxy is None,
}


def _choices(name: str) -> st.SearchStrategy[Any]:
    field = DecisionAnswers.model_fields[name]
    annotation = field.annotation
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        bounds = {type(m).__name__: m for m in field.metadata}
        low, high = bounds["Ge"].ge, bounds["Le"].le
        # The edges and the clamps' neighbourhoods are where claims turn false.
        return st.integers(low, min(high, 2_000)) | st.sampled_from([low, high])
    args = get_args(annotation)
    if args and args[-1] is Ellipsis:  # a tuple of choices
        return st.lists(st.sampled_from(get_args(args[0])), unique=True).map(tuple)
    return st.sampled_from(args)


ANSWERS = st.fixed_dictionaries({name: _choices(name) for name in DecisionAnswers.model_fields})


def _valid(raw: dict[str, Any]) -> DecisionAnswers | None:
    try:
        return DecisionAnswers.model_validate(raw)
    except ValidationError:
        return None  # e.g. existing routes for a new codebase


@settings(max_examples=400, deadline=None)
@given(raw=ANSWERS, framework=st.sampled_from(FRAMEWORKS))
# The two plans #25 found: Flask gthread at a peak of 300 with 100 threads a worker; a
# FastAPI worker at a peak of 500 with 200 threads.
@example(
    raw={**DecisionAnswers().model_dump(), "peak_concurrency": 300, "cpu_tasks": "inline"},
    framework="flask",
)
@example(raw={**DecisionAnswers().model_dump(), "peak_concurrency": 500}, framework="fastapi")
def test_every_reason_is_true_of_the_plan_it_explains(
    raw: dict[str, Any], framework: Framework
) -> None:
    answers = _valid(raw)
    if answers is None or answers.server not in (*SERVERS_FOR[framework], "auto"):
        return  # refused: test_decision holds the refusal
    plan = plan_server(answers, framework)
    for reason in plan.why:
        matched = False
        for pattern, check in CLAIMS.items():
            for match in re.finditer(pattern, reason):
                matched = True
                assert check(plan, answers, match), (pattern, reason, plan, answers)
        assert matched, f"a reason with no known claim (add its check to CLAIMS): {reason}"
