"""Optional wording by a language model (any OpenAI-compatible chat endpoint), with the findings as its only
context. A reply that names an image id or a quoted phrase absent from the evidence is dropped for the
finding's own text: the model words findings, it never adds facts."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

from agile.assistant.findings import Finding

SYSTEM = ("You reword findings of an image-classifier assistant for the person building the classifier. "
          "Use only the facts in the findings given. Mention only image ids and phrases that appear in them. "
          "Answer in at most three sentences.")


@dataclass(frozen=True)
class ChatModel:
    base_url: str                # e.g. http://127.0.0.1:8080/v1
    model: str
    api_key: str | None = None
    timeout: float = 10.0

    def complete(self, messages: list[dict]) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        r = httpx.post(f"{self.base_url.rstrip('/')}/chat/completions", headers=headers, timeout=self.timeout,
                       json={"model": self.model, "messages": messages, "temperature": 0})
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"]).strip()


def _allowed(findings: list[Finding]) -> tuple[set[int], set[str], set[str]]:
    ids = {i for f in findings for i in f.evidence.image_ids}
    ids |= {i for f in findings for g in f.evidence.groups for i in g.image_ids}
    phrases = {p.lower() for f in findings for p in f.evidence.phrases}
    text = " ".join(f"{f.title} {f.message}" for f in findings)
    return ids, phrases, text


def grounded(reply: str, findings: list[Finding]) -> bool:
    """True when every number that could be an image id and every quoted phrase of ``reply`` is in the evidence."""
    ids, phrases, text = _allowed(findings)
    numbers_in_text = set(re.findall(r"\d+", text))
    for number in re.findall(r"(?<![\d.])\d+(?![\d.%])", reply):
        if int(number) not in ids and number not in numbers_in_text:
            return False
    quoted = re.findall(r"['\"\u2018\u201c]([^'\"\u2019\u201d]{2,80})['\"\u2019\u201d]", reply)
    return all(q.lower() in phrases or q.lower() in text.lower() for q in quoted)


def word(findings: list[Finding], fallback: str, model: ChatModel | None, question: str | None = None) -> tuple[str, str]:
    """(text, source): the model's reply if configured and grounded, else ``fallback`` ('findings')."""
    if model is None or not findings:
        return fallback, "findings"
    context = json.dumps([{"title": f.title, "message": f.message, "image_ids": list(f.evidence.image_ids),
                           "phrases": list(f.evidence.phrases), "figures": f.evidence.figures} for f in findings])
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Findings: {context}\n\nQuestion: {question or 'What should I do?'}"}]
    try:
        reply = model.complete(messages)
    except (httpx.HTTPError, KeyError, IndexError, ValueError, TypeError):
        return fallback, "findings"  # the endpoint is optional: its failure leaves the findings' own text
    if not reply or not grounded(reply, findings):
        return fallback, "findings (the language model's reply named something outside the evidence)"
    return reply, f"language model {model.model}"
