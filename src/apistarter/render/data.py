"""What the template places: the answers and every value apistarter computed from them."""

from __future__ import annotations

import datetime
from typing import Any

from apistarter import __version__
from apistarter.database import migrate_command
from apistarter.decision import Recommendation
from apistarter.deploy import LIVENESS_PORT, plan_deploy
from apistarter.monitoring import plan_monitoring
from apistarter.observability import plan_metrics
from apistarter.questions import SERVICE_LIMITS, DecisionAnswers, ProjectAnswers
from apistarter.server import run_command
from apistarter.service_routes import SERVICE_ROUTES


def template_data(
    project: ProjectAnswers,
    answers: DecisionAnswers,
    recommendation: Recommendation,
    constraints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Every value the template places: the answers and what apistarter computed from them.

    ``constraints`` are the answers an organisation policy locked, for the ADR.
    """
    auth = recommendation.auth
    metrics = plan_metrics(
        recommendation.framework,
        recommendation.server,
        recommendation.load_test,
        LIVENESS_PORT,
        recommendation.database,
    )
    return {
        "framework": recommendation.framework,
        **project.model_dump(mode="json"),
        "apistarter_version": __version__,
        "decision": answers.model_dump(mode="json"),
        "server": {
            **recommendation.server.model_dump(mode="json"),
            "command": run_command(recommendation.server, project.package_name),
            # What the plan was computed for: copier.yml refuses a framework answer that
            # differs (plain `copier update` cannot recompute the plan).
            "framework": recommendation.framework,
        },
        "load_test": recommendation.load_test.model_dump(mode="json"),
        "limits": SERVICE_LIMITS,
        "routes": SERVICE_ROUTES,
        "deploy": plan_deploy(
            answers.deploy,
            recommendation.server,
            None if recommendation.database is None else migrate_command(project.package_name),
            auth.secret,
            auth.config,
        ).model_dump(mode="json"),
        "auth_plan": auth.model_dump(mode="json"),
        "metrics": metrics.model_dump(mode="json", exclude={"why"}),
        "monitoring": plan_monitoring(
            metrics, recommendation.server, recommendation.load_test
        ).model_dump(mode="json", by_alias=True),
        "database": answers.database,
        "database_plan": {}
        if recommendation.database is None
        else recommendation.database.model_dump(mode="json"),
        "adr": {
            "date": datetime.date.today().isoformat(),
            "recommended": recommendation.recommended,
            "overridden": recommendation.overridden,
            "adopted": recommendation.adopted,
            "summary": recommendation.summary,
            **recommendation.model_dump(
                mode="json", include={"drivers", "reasons", "warnings", "alternatives", "sources"}
            ),
            "constraints": constraints or [],
        },
    }
