"""Schemathesis over the API's own OpenAPI document: every operation, positive and negative inputs.

Used by tests/test_api_fuzz.py; also runnable against any server for figures:
``python -m tests.api_fuzz URL TOKEN [EXAMPLES]``.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@dataclass
class FuzzReport:
    requests: int = 0
    server_errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)  # "METHOD path: what", one per failing request

    def summary(self) -> str:
        return (f"{self.requests} requests, {self.server_errors} 5xx, {len(self.violations)} with violations; "
                f"statuses {dict(sorted(self.statuses.items()))}")


def fuzz(url: str, token: str, examples: int = 12) -> FuzzReport:
    """``examples`` positive and as many negative cases per operation, deterministic."""
    report = FuzzReport()
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case) -> None:
                report.requests += 1
                response = case.call(headers=headers, timeout=60)
                report.statuses[response.status_code] += 1
                if response.status_code >= 500:
                    report.server_errors += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as e:  # a failed check: record it, go on
                    text = [line.strip() for line in str(e).splitlines() if line.strip()]
                    report.violations.append(f"{operation.method.upper()} {operation.path} -> "
                                             f"{response.status_code}: {' | '.join(text)[:300]}")
            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                pass
    return report


if __name__ == "__main__":
    out = fuzz(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 12)
    print(out.summary())
    for line in out.violations:
        print(" ", line)
