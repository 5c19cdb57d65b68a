"""Property-based tests of the live server against its own OpenAPI spec (schemathesis): for
generated valid and invalid requests to every operation, no 5xx and every documented answer
matches its schema. Bounded: a few examples per operation, so the whole run stays well under
a minute on two cores."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import LiveServer, World

EXAMPLES = 8


def exercise(operation: Any, server: LiveServer, headers: dict[str, str], **fixed: Any) -> None:
    session = requests.Session()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode, **fixed)

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=server.url, headers=headers, session=session)
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance],
                headers=headers,
            )

        run()


@pytest.mark.slow
def test_no_server_errors_and_every_answer_matches_the_spec(
    world: World, server: LiveServer
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        partner = operation.path.startswith("/partner/")
        key = world.keys["meta"] if partner else world.keys["sue"]
        headers = {"Authorization": f"Bearer {key}"}
        exercise(operation, server, headers)
        if "{public_id}" in operation.path:
            # Also on a real referral (random ids only ever meet the 404).
            real = world.sent["meta"][0]
            exercise(operation, server, headers, path_parameters={"public_id": real})
