"""Convert a StyleGAN2 checkpoint to this project's format.

    python -m facial_anomaly.normalizers.stylegan2.convert SRC DST

SRC: a rosinality/stylegan2-pytorch ``.pt`` (e.g. ``stylegan2-ffhq-config-f.pt`` or a
training checkpoint such as ``550000.pt``), a bare ``g_ema`` state dict, a
stylegan2-ada-pytorch ``G_ema.state_dict()`` saved with ``torch.save``, or a file already
in this project's format. DST: plain tensors + a JSON-able generator config (see
:mod:`.checkpoint`). Exit status 0 on success, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from .checkpoint import convert_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m facial_anomaly.normalizers.stylegan2.convert",
        description="Convert a StyleGAN2 generator checkpoint (rosinality .pt or stylegan2-ada-pytorch state dict) to the facial_anomaly format.",
    )
    parser.add_argument("source", help="checkpoint to read (tensor-only .pt; NVIDIA .pkl is not supported)")
    parser.add_argument("destination", help="file to write in the facial_anomaly format")
    args = parser.parse_args(argv)
    try:
        config = convert_checkpoint(args.source, args.destination)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.destination}: {json.dumps(config.to_dict())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
