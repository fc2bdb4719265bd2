"""Every finder over one concept's state, ranked: what GET advice lists and tips choose from."""
from __future__ import annotations

from typing import Callable

from agile.assistant.findings import Finding, rank
from agile.assistant.mislabels import find_mislabels
from agile.assistant.phrases import find_phrase_report
from agile.assistant.progress import find_progress
from agile.assistant.splits import find_splits
from agile.assistant.state import AssistantState
from agile.assistant.suggestions import find_suggestions

Finder = Callable[[AssistantState], list[Finding]]
FINDERS: dict[str, Finder] = {
    "mislabels": find_mislabels,
    "phrases": find_phrase_report,
    "suggestions": find_suggestions,
    "splits": find_splits,
    "progress": find_progress,
}


def advise(state: AssistantState, only: set[str] | None = None) -> list[Finding]:
    """All findings (or those of the finders named in ``only``), most useful first."""
    return rank([f for name, finder in FINDERS.items() if only is None or name in only for f in finder(state)])
