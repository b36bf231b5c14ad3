"""schemathesis hooks of the API walk (tests/test_api_walk.py), loaded by ``st run`` through SCHEMATHESIS_HOOKS.

- The walk keeps its own API token and account: a request that would revoke, demote or disable them is sent for
  another id.
- A settings test is never pointed at a service outside this machine: addresses in its values go to 127.0.0.1.
- A valid request may be refused (400 or 422) only when the refusal names fields that the operation says it
  checks beyond the schema (``x-medianest-refusals``); this replaces schemathesis's own check of valid data.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure

ACCEPTED = frozenset({401, 403, 404, 409, 429})


def _elsewhere(case: Any, path: str, keep: str) -> None:
    """Send a request about the record the walk stands on for another id."""
    if keep and case.path == path and str((case.path_parameters or {}).get("id")) == keep:
        case.path_parameters["id"] = int(keep) + 1_000_000


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    if case.method == "DELETE":
        _elsewhere(case, "/api/v1/me/tokens/{id}", os.environ.get("MEDIANEST_WALK_TOKEN_ID", ""))
    if case.method in ("PATCH", "DELETE"):
        # An admin may step down or be disabled while another admin is left: not the one walking.
        _elsewhere(case, "/api/v1/admin/users/{id}", os.environ.get("MEDIANEST_WALK_USER_ID", ""))
    if case.path.endswith("/test") and isinstance(case.body, dict) and isinstance(case.body.get("values"), dict):
        case.body["values"] = {
            key: "http://127.0.0.1:9/" if isinstance(value, str) and "://" in value else value
            for key, value in case.body["values"].items()
        }


@schemathesis.check
def valid_data_accepted_or_refused_as_declared(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 400 or status >= 500 or status in ACCEPTED:
        return None
    declared = set(case.operation.definition.raw.get("x-medianest-refusals", {}))
    try:
        fields = set(response.json()["error"]["details"].get("fields", {}))
    except (ValueError, KeyError, TypeError, AttributeError):
        fields = set()
    named = {name.split(".", 1)[0] for name in fields}
    if status in (400, 422) and named and declared and named <= declared:
        return None
    raise Failure(
        operation=case.operation.label,
        title="Valid data refused",
        message=f"A request that fits the document was refused with {status}; the fields it names ({sorted(named)}) "
        f"are not among those the operation checks beyond the schema ({sorted(declared)}).",
    )
