"""Which finding becomes the tip: the most useful one not dismissed, and not shown before with the same evidence."""
from __future__ import annotations

from typing import Mapping

from agile.assistant.findings import Finding, rank

DISMISSED = "dismissed"


def pick_tip(findings: list[Finding], seen: Mapping[str, tuple[str, str]]) -> Finding | None:
    """``seen``: key -> (status 'shown' or 'dismissed', digest of the evidence when it was shown).

    A dismissed finding never comes back; a shown one only when its evidence changed.
    Plain information (severity info) is never a tip: it is there when asked for.
    """
    for finding in rank(findings):
        status, digest = seen.get(finding.key, ("", ""))
        if finding.severity == "info" or status == DISMISSED or digest == finding.digest:
            continue
        return finding
    return None
