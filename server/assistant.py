"""The server's assistant: findings of a concept from its SQLite state, the corpus vocabulary (built once),
tips remembered per concept, and the optional language model that words answers."""
from __future__ import annotations

import os
import threading
from typing import Any

from agile.assistant import AssistantState, Finding, Target, advise, ask, pick_tip
from agile.assistant.suggestions import first_phrases
from agile.assistant.vocabulary import Vocabulary, VocabularyError, load_vocabulary
from agile.assistant.wording import ChatModel, word
from server.settings import ServerSettings
from server.store import SqliteStore
from server.tips import SHOWN, TipStore


class Assistant:
    def __init__(self, state):
        self.state = state
        self.tips = TipStore(state.repo.db)
        self._vocabulary: Vocabulary | None = None
        self._vocabulary_note = ""
        self._lock = threading.Lock()
        self.model = chat_model(state.settings)

    @property
    def wording(self) -> str:
        return f"language model {self.model.model}" if self.model else "findings"

    def vocabulary(self) -> Vocabulary | None:
        """The corpus's vocabulary, embedded on first use (None, with a note, if it has none)."""
        with self._lock:
            if self._vocabulary is None and not self._vocabulary_note:
                try:
                    self._vocabulary = load_vocabulary(self.state.loop.workspace, self.state.settings.data,
                                                       self.state.settings.assistant_words)
                except VocabularyError as e:
                    self._vocabulary_note = str(e)
            return self._vocabulary

    def concept_state(self, concept_id: int) -> AssistantState:
        store = SqliteStore(self.state.repo, self.state.loop, self.state.watch, concept_id)
        return AssistantState(self.state.loop.workspace, store, self.vocabulary(),
                              per_phrase=self.state.settings.per_phrase)

    def advice(self, concept_id: int) -> list[Finding]:
        """The concept's findings; none for a task (the findings read one score per image)."""
        if self.state.repo.concept(concept_id).categories is not None:
            return []
        return advise(self.concept_state(concept_id))

    def ask(self, concept_id: int, target: Target, question: str | None) -> tuple[Any, str, str]:
        self.state.repo.concept(concept_id).require_binary("the assistant's Ask")
        answer = ask(self.concept_state(concept_id), target, question)
        text, source = word(answer.findings, answer.text, self.model, question) if self.model else (answer.text,
                                                                                                   "findings")
        return answer, text, source

    def next_tip(self, concept_id: int, user_id: int) -> tuple[Finding | None, str | None, str]:
        """At most one new tip (recorded as shown), or why there is none."""
        if not self.tips.tips_on(user_id):
            return None, None, "tips are switched off"
        tip = pick_tip(self.advice(concept_id), self.tips.seen(concept_id))
        if tip is None:
            return None, None, "nothing new to say"
        self.tips.mark(concept_id, tip.key, tip.digest, SHOWN, user_id)
        text, _ = word([tip], tip.message, self.model) if self.model else (tip.message, "findings")
        return tip, text, "the most useful finding not shown before"

    def first_phrases(self, text: str) -> tuple[str, list[dict]]:
        vocabulary = self.vocabulary()
        if vocabulary is None:
            return self._vocabulary_note, []
        return vocabulary.source, first_phrases(self.state.loop.workspace, vocabulary, text)


def chat_model(settings: ServerSettings) -> ChatModel | None:
    """The configured endpoint, its key read from the environment variable the settings name."""
    if not settings.assistant_llm_url:
        return None
    return ChatModel(settings.assistant_llm_url, settings.assistant_llm_model,
                     os.environ.get(settings.assistant_llm_key_env))
