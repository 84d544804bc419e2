#!/usr/bin/env python3
"""Export standard torchvision architectures to ONNX for kiln's benchmarks.

Random weights (seeded): nothing downloads pretrained weights here, and latency does not depend on
the weight values. Needs Debian's python3-torch and python3-torchvision; run with /usr/bin/python3.

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
        model = ARCHITECTURES[name]().eval()
        x = torch.rand(1, 3, 224, 224)
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["logits"], opset_version=17,
                          do_constant_folding=True)
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
