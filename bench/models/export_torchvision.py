#!/usr/bin/env python3
"""Export standard torchvision architectures to ONNX for kiln's benchmarks.

Random weights (seeded): nothing downloads pretrained weights here, and latency does not depend on
the weight values. BatchNorm statistics are settled on random batches first (train-mode forward
passes, no gradient), as a trained model's are: default running stats (mean 0, var 1) make
activations explode through deep nets, which no real model does. The batch dimension stays dynamic,
as in a real torch export. Needs Debian's python3-torch and python3-torchvision; run with /usr/bin/python3.

    /usr/bin/python3 bench/models/export_torchvision.py bench/.models
"""
import os
import sys

import torch
import torchvision.models as tvm

ARCHITECTURES = {
    "resnet18": tvm.resnet18,
    "mobilenet_v2": tvm.mobilenet_v2,
    "squeezenet1_1": tvm.squeezenet1_1,
    "shufflenet_v2_x1_0": tvm.shufflenet_v2_x1_0,
    "efficientnet_b0": tvm.efficientnet_b0,
    "mnasnet1_0": tvm.mnasnet1_0,
}


def settle_batchnorm(model: torch.nn.Module, batches: int = 8) -> None:
    """Running BatchNorm statistics from random ImageNet-normalized batches (cumulative average)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(16, 3, 224, 224, generator=g))


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "bench/.models"
    names = sys.argv[2:] or list(ARCHITECTURES)
    os.makedirs(out, exist_ok=True)
    for name in names:
        path = os.path.join(out, f"{name}.onnx")
        if os.path.exists(path):
            print(f"{name}: exists")
            continue
        torch.manual_seed(0)
        model = ARCHITECTURES[name]()
        settle_batchnorm(model)
        model.eval()
        x = torch.rand(1, 3, 224, 224)
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"], opset_version=17,
                          do_constant_folding=True, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
