"""The demo world: procedural scenes with ground truth, captions, and the concept suite.

Scenes are addressed by ``demo://<seed>/<index>`` URIs and re-rendered on
demand (``render_uri``); a demo corpus stores their attributes as metadata
columns, from which ``SuiteConcept.labels(corpus)`` computes ground truth.
"""
from agile.demo.attributes import Scene, SceneObject
from agile.demo.suite import SuiteConcept, SuiteError, load_suite
from agile.demo.table import SceneTable, scene_columns
from agile.demo.world import DemoUriError, demo_uri, parse_uri, render_at, render_batch, render_uri, scene_at

__all__ = ["DemoUriError", "Scene", "SceneObject", "SceneTable", "SuiteConcept", "SuiteError", "demo_uri",
           "load_suite", "parse_uri", "render_at", "render_batch", "render_uri", "scene_at", "scene_columns"]
