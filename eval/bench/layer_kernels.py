"""The oneDNN implementation and time of each int8 layer, for this int8 MLP and optionally an earlier one.

``python -m eval.bench.layer_kernels ROWS DIM [--before PATH/int8_mlp.py]`` (run it
under ``ONEDNN_MAX_CPU_ISA=...`` to see another instruction set): a seeded
3 x 128 model, random unit vectors quantised per dimension as the scan store keeps them
(``--before``: as signed bytes, which earlier versions took), one warm-up call
and one call traced through `eval.bench.onednn_trace`; plus the float32
model on the same block. JSON out (one line).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np
import torch

from agile.int8_mlp import Int8MLP
from agile.scan_store import ZERO_POINT
from agile.training import TrainConfig, TrainedModel, build_mlp
from eval.bench.onednn_trace import trace


def _load(path: str):
    spec = importlib.util.spec_from_file_location("int8_mlp_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["int8_mlp_before"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module.Int8MLP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("dim", type=int)
    parser.add_argument("--before", help="an earlier agile/int8_mlp.py to compare with")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = TrainConfig.for_round(1)
    model = TrainedModel(config, build_mlp(args.dim, config))
    x = torch.randn(args.rows, args.dim)
    x = x / x.norm(dim=1, keepdim=True)
    scales = (x.abs().amax(0) / 127).numpy()
    q = torch.round(x / torch.from_numpy(scales)).clamp(-127, 127)
    dequantised = (q * torch.from_numpy(scales)).numpy()
    stored = (q + ZERO_POINT).to(torch.uint8)  # as the scan store keeps it; earlier versions took signed bytes
    out = {"isa_cap": os.environ.get("ONEDNN_MAX_CPU_ISA", "none"), "rows": args.rows, "dim": args.dim}
    variants = {"after": (Int8MLP, stored), **({"before": (_load(args.before), q.to(torch.int8))} if args.before else {})}
    with torch.inference_mode():
        for name, (cls, block) in variants.items():
            mlp = cls.from_model(model, scales, dequantised, args.rows)
            mlp.logits(block)
            out[name] = [r.to_dict() for r in trace(lambda: mlp.logits(block))]
        block = torch.from_numpy(dequantised.astype(np.float16))
        model.module(block.float())
        start = time.perf_counter()
        model.module(block.float())
        out["float32_ms"] = round((time.perf_counter() - start) * 1000, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
