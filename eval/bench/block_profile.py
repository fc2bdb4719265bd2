"""Where one int8 block's time goes: each layer, the sigmoid, and the round's rule with and without its bound.

``python -m eval.bench.block_profile CORPUS [--learner mlp|ensemble] [--blocks N]`` times
N blocks of the corpus's scan store on one thread, as each scoring worker runs
them (a stand-in model of the loop's 3 x 128 shape, or the ensemble's 3 x 130),
twice over; medians of the second pass, in ms per block. ``rule`` is the
margin round's `BestOf` (one ranking) and the mixed batch's (margin and top
scores); ``running`` the same rules as a scan applies them (`RunningBestOf`).
JSON out (one line).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from agile.corpus import Corpus
from agile.int8_mlp import Int8MLP
from agile.kernel_choice import _stand_in, isa_caps
from agile.sampling import BestOf, margin, top_scores
from agile.scan_store import ScanStore
from agile.scoring import SCAN_ROWS, calibration_sample
from agile.training import TrainConfig


def profile(corpus: Corpus, learner: str = "ensemble", blocks: int = 40, rows: int = SCAN_ROWS) -> dict:
    store = ScanStore.open_or_build(corpus, calibrate_rows=None)
    model = _stand_in(corpus.dim, TrainConfig.for_round(1, learner=learner))
    quantized = Int8MLP.from_model(model, store.scales, calibration_sample(store), rows)
    chunks = [(first, np.array(block)) for first, block in list(store.iter_chunks(rows))[:blocks]]
    exclude = np.sort(np.random.default_rng(0).choice(corpus.count, 600, replace=False))
    rules = {"margin": BestOf((margin,), 1000), "margin_and_top": BestOf((margin, top_scores), 1000)}
    times: dict[str, list[float]] = {}

    def clock(name: str, fn):
        start = time.perf_counter()
        out = fn()
        times.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        return out
    with torch.inference_mode():
        torch.set_num_threads(1)
        for _ in range(2):
            times.clear()
            running = {name: rule.running() for name, rule in rules.items()}  # one scan's rules
            for first, block in chunks:
                h = torch.from_numpy(block)
                for i, layer in enumerate(quantized.layers):
                    h = clock(f"layer{i}", lambda h=h, layer=layer: quantized.layer(h, layer))
                scores = clock("sigmoid", lambda h=h: torch.sigmoid(h[:, 0]).numpy())
                for name, rule in rules.items():
                    clock(f"rule_{name}", lambda rule=rule: rule(first, scores, exclude))
                    clock(f"running_{name}", lambda name=name: running[name](first, scores, exclude))
    out = {name: round(statistics.median(values), 3) for name, values in times.items()}
    return {"corpus": str(corpus.root), "dim": corpus.dim, "rows": rows, "blocks": len(chunks), "learner": learner,
            "isa_caps": isa_caps(), "ms_per_block": out,
            "layers_ms": round(sum(v for k, v in out.items() if k.startswith("layer")), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--learner", choices=("mlp", "ensemble"), default="ensemble")
    parser.add_argument("--blocks", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(profile(Corpus.open(args.corpus, verify="quick"), args.learner, args.blocks)))


if __name__ == "__main__":
    main()
