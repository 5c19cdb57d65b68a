"""docs/openapi.json is the spec the server serves; this test rewrites it when it is stale
and fails, so a changed API cannot be committed with an old spec."""

from __future__ import annotations

import json

from sqlalchemy import create_engine

from tests.conftest import ROOT
from tidewatch.api import create_app

SPEC = ROOT / "docs" / "openapi.json"


def current_spec() -> str:
    app = create_app(create_engine("sqlite://"))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def test_docs_openapi_json_is_the_served_spec() -> None:
    spec = current_spec()
    written = SPEC.read_text("utf-8") if SPEC.exists() else ""
    if written != spec:
        SPEC.write_text(spec, "utf-8")
    assert written == spec, "docs/openapi.json was stale and has been rewritten: commit it"


def test_the_spec_documents_both_apis_and_their_key_schemes() -> None:
    spec = json.loads(current_spec())
    paths = spec["paths"]
    assert {p.split("/")[1] for p in paths} == {"partner", "api"}
    assert set(spec["components"]["securitySchemes"]) == {"PartnerKey", "UnitKey"}
    decision = spec["components"]["schemas"]["DecisionIn"]["properties"]
    # The DSA vocabulary is in the spec itself, so platforms can validate before sending.
    ground = decision["decision_ground"]["anyOf"][0]
    assert ground["enum"] == [
        "DECISION_GROUND_ILLEGAL_CONTENT",
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    ]
    for path, operations in paths.items():
        for operation in operations.values():
            assert "404" in operation["responses"] or "{" not in path, path
