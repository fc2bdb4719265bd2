"""The assistant: findings computed from a concept's embeddings, ratings and versions, Ask, and tips."""
from agile.assistant.advice import advise
from agile.assistant.ask import Answer, Target, ask
from agile.assistant.findings import Action, Evidence, Finding, Group
from agile.assistant.state import AssistantState
from agile.assistant.tips import pick_tip

__all__ = ["Action", "Answer", "AssistantState", "Evidence", "Finding", "Group", "Target", "advise", "ask",
           "pick_tip"]
