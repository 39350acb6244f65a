"""schemathesis against the API's own OpenAPI schema with a valid key: no 5xx, and every
answer matches the schema (status codes, bodies, content types)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jobs.api import create_app
from jobs.settings import Settings
from jobs.store import Store

pytestmark = pytest.mark.slow

_data = Path(tempfile.mkdtemp(prefix="penpost-schemathesis-"))
_store = Store(Settings(data_dir=_data, rate_limit_per_minute=1_000_000))
_store.migrate()
_shop, KEY = _store.create_shop("Schema shop")
_store.put_template(_shop.id, "spaet", {"template": "Es tut uns leid, {{ vorname }}."})
_JOB = _store.submit(_shop, {"message": "Es tut uns leid.", "font": "tech", "seed": 1}).job
app = create_app(_store.settings, store=_store)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# what the issue asks: no 5xx and answers that match the schema. (Schema-valid bodies may
# still be refused with a 422 naming the problem: an unknown font or text that cannot fit
# are things JSON Schema cannot say.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_match_the_schema(case):
    if "job_id" in (case.path_parameters or {}) and case.path_parameters["job_id"] == "0":
        case.path_parameters["job_id"] = _JOB.id
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)
