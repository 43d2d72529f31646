"""Reading a flow's artifacts back from the Prefect server, as the UI does."""

from __future__ import annotations

import json
from typing import Any


def latest_table(key: str) -> list[dict[str, Any]]:
    """The rows of the newest table artifact under ``key``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)
    assert found, f"no artifact {key!r}"
    data = found[0].data
    assert found[0].description, key  # every table says what it is
    return data if isinstance(data, list) else json.loads(str(data))
