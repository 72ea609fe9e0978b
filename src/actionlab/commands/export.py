"""actionlab export CHECKPOINT --format onnx|torch-export|hub OUT: a clip -> logits graph, or a shareable folder.

--format hub writes a folder (model.safetensors, config.json, labels.txt, preprocessing.json and a
model card README.md with the checkpoint's metrics) that `actionlab.load(DIR)` and `actionlab predict
--model DIR` read, also from a Hugging Face Hub repo id once uploaded (`pip install 'actionlab[hub]'`).

The exported model takes a clip of fixed T frames and S x S pixels (the
checkpoint's unless --frames / --size say otherwise) with a free batch size:
uint8 RGB pixels by default (normalisation inside the graph), or with
--input float the normalised clip the PyTorch model takes.  It returns logits.
The file is loaded back and compared with PyTorch on a random clip; the max abs
difference is printed (--no-verify skips this).
"""

from __future__ import annotations

import argparse
import json
import sys

# what `--format` takes; actionlab.export.FORMATS + hub (a test keeps them equal: this module must not import torch)
FORMATS = ("onnx", "torch-export", "hub")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint (runs/<name>/checkpoints/last.pt or best.pt)")
    p.add_argument("out", help="output file: .onnx for --format onnx, .pt2 for torch-export; a folder for hub")
    p.add_argument("--format", choices=FORMATS, default="onnx",
                   help="onnx (default), torch-export, or hub (a folder for actionlab.load / the Hugging Face Hub)")
    p.add_argument("--input", dest="input_dtype", choices=("uint8", "float"), default="uint8",
                   help="uint8 pixels with normalisation in the graph (default), or the normalised float clip")
    p.add_argument("--layout", choices=("ncthw", "nthwc"), default="ncthw",
                   help="input layout: [N, 3, T, S, S] (default) or [N, T, S, S, 3] as frames are decoded")
    p.add_argument("--frames", type=int, default=None, help="T (default: the checkpoint's data.num_segments)")
    p.add_argument("--size", type=int, default=None, help="S (default: the checkpoint's data.input_size)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="ONNX exporter: torch.export-based (default) or the legacy TorchScript one")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check against PyTorch")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    if args.format == "hub":
        from ..export import export_hub

        hub = export_hub(args.checkpoint, args.out)
        cut = (f"; {len(hub.local_paths)} local paths cut to their last component (listed in config.json)"
               if hub.local_paths else "")
        print(f"wrote {hub.path}/ ({', '.join(hub.files)}){cut}; load with actionlab.load('{hub.path}') or "
              f"`actionlab predict VIDEO --model {hub.path}`")
        return 0
    from ..export import export_checkpoint, result_summary

    steps = "tracing and writing" + ("" if args.no_verify else ", then the parity check against PyTorch")
    print(f"export: {args.checkpoint} -> {args.out} ({args.format}): {steps} ...", file=sys.stderr, flush=True)
    result = export_checkpoint(args.checkpoint, args.out, format=args.format, input_dtype=args.input_dtype,
                               layout=args.layout, num_frames=args.frames, size=args.size,
                               verify=not args.no_verify, opset=args.opset, exporter=args.exporter)
    if args.json:
        print(json.dumps(result_summary(result), indent=1))
        return 0
    shape = "x".join(str(d) for d in result.input_shape)
    print(f"wrote {result.path} ({result.format}): {result.metadata['model']}, input {result.input_dtype} "
          f"[{shape}] -> logits [batch, {result.metadata['num_classes']}]")
    if result.max_abs_diff is not None:
        print(f"parity with PyTorch: max abs logit difference {result.max_abs_diff:.3g} "
              f"(tolerance {result.tolerance:.3g})")
    return 0
