"""Served deployments refuse parameters their flow does not take, at run creation."""

from __future__ import annotations

import jsonschema
import pytest

from deployments.serve import build_deployments


@pytest.mark.parametrize(("name", "stale"), [("takeover-response", "demo_auto_approve"),
                                             ("protect-mailboxes", "notification_url"),
                                             ("historic-scan", "dask_address")])
def test_a_parameter_the_flow_does_not_take_fails_schema_validation(name: str, stale: str) -> None:
    (deployment,) = build_deployments(tenants=[], only=[name])
    schema = deployment._parameter_openapi_schema.model_dump(exclude_unset=True)
    assert schema["additionalProperties"] is False
    known = {"tenant": "contoso.example"} | ({"user": "ann@contoso.example"} if name == "takeover-response" else {})
    jsonschema.validate(known, schema)
    with pytest.raises(jsonschema.ValidationError, match=stale):
        jsonschema.validate({**known, stale: "x"}, schema)
