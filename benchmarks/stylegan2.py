"""Speed of the StyleGAN2 normalizer on this machine (random weights, CPU by default).

    .venv/bin/python benchmarks/stylegan2.py --threads 1 [--configs tiny 256 1024] [--steps 3]

For each generator configuration it times a few inversion steps (Algorithm 1) and
adaptation steps (Algorithm 2), subtracting the fixed cost (a run with 1 resp. 0 steps),
and extrapolates to the paper's 2000 + 50 steps. Hayajneh et al. report ~50 s per image
on an RTX 2080. LPIPS uses a randomly initialised backbone (same cost as the real one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from facial_anomaly.devices import resolve_device
from facial_anomaly.normalizers.stylegan2 import (
    AdaptationConfig,
    GeneratorConfig,
    InversionConfig,
    StyleGAN2Generator,
    adapt,
    build_lpips,
    invert,
    w_statistics,
)

CONFIGS = {
    # name: (generator fields, LPIPS net, working resolution)
    "tiny": (dict(resolution=32, latent_dim=32, mapping_layers=2, channel_base=256, channel_max=32), "alex", 32),
    "256": (dict(resolution=256, latent_dim=512, mapping_layers=8, channel_base=32768, channel_max=512), "vgg", 256),
    "1024": (dict(resolution=1024, latent_dim=512, mapping_layers=8, channel_base=32768, channel_max=512), "vgg", 256),
}
PAPER_INVERSION_STEPS = 2000
PAPER_ADAPTATION_STEPS = 50
PAPER_MEAN_W_SAMPLES = 10_000


def inversion_config(steps: int, working_resolution: int) -> InversionConfig:
    return InversionConfig(
        mean_w_samples=16,
        steps=steps,
        lr=0.1,
        lr_rampup=0.05,
        lr_rampdown=0.25,
        adam_betas=(0.9, 0.999),
        latent_noise=0.05,
        latent_noise_ramp=0.75,
        noise_regularization=1e5,
        w_plus=False,
        working_resolution=working_resolution,
        seed=0,
    )


def adaptation_config(steps: int, working_resolution: int) -> AdaptationConfig:
    return AdaptationConfig(
        steps=steps,
        output_step=steps,
        snapshot_steps=(0,),
        lr=3e-4,
        adam_betas=(0.9, 0.999),
        lpips_weight=1.0,
        l2_weight=1.0,
        working_resolution=working_resolution,
        reconstruction_fraction=0.5,
    )


def step_seconds(run, device: torch.device) -> float:
    """Median duration of the optimisation steps of ``run(on_step)``, leaving out the first
    (it includes the set-up and warm-up)."""
    stamps = []

    def on_step(step: int) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    run(on_step)
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:]))


def bench(name: str, steps: int, batch: int, device: torch.device) -> None:
    fields, net, working = CONFIGS[name]
    config = GeneratorConfig(mapping_lr_multiplier=0.01, **fields)
    torch.manual_seed(0)
    generator = StyleGAN2Generator(config).eval().to(device)
    perceptual = build_lpips(net, pretrained_backbone=False).to(device)
    params = sum(p.numel() for p in generator.parameters()) / 1e6
    with torch.no_grad():
        targets = generator(torch.randn(batch, config.latent_dim, device=device))
    mask = torch.ones(1, 1, config.resolution, config.resolution, device=device)

    start = time.perf_counter()
    w_statistics(generator, PAPER_MEAN_W_SAMPLES, torch.Generator(device=device).manual_seed(0))
    mean_w = time.perf_counter() - start
    inversion = inversion_config(steps + 1, working)
    inversion_step = step_seconds(lambda on_step: invert(generator, targets, perceptual, inversion, on_step), device)
    result = invert(generator, targets[:1], perceptual, inversion_config(1, working))
    adaptation = adaptation_config(steps + 1, working)
    adaptation_step = step_seconds(
        lambda on_step: adapt(generator, result.w, result.noise, targets[:1], perceptual, adaptation, mask, on_step),
        device,
    )

    per_image = (
        mean_w / batch + PAPER_INVERSION_STEPS * inversion_step / batch + PAPER_ADAPTATION_STEPS * adaptation_step
    )
    print(
        f"{name:>5} | {config.resolution:4d} px {params:6.2f} M params, LPIPS-{net} at {working} px, batch {batch}\n"
        f"      | mean W of {PAPER_MEAN_W_SAMPLES} samples: {mean_w:7.2f} s\n"
        f"      | inversion : {1 / inversion_step:8.2f} it/s ({inversion_step / batch:7.3f} s per image-step)\n"
        f"      | adaptation: {1 / adaptation_step:8.2f} it/s ({adaptation_step:7.3f} s per step, one face)\n"
        f"      | projected {PAPER_INVERSION_STEPS} + {PAPER_ADAPTATION_STEPS} steps: {per_image:9.1f} s per image "
        f"({per_image / 3600:.2f} h; paper: ~50 s on an RTX 2080)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument("--configs", nargs="+", default=["tiny", "256"], choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per algorithm (after a first, untimed one)")
    parser.add_argument("--batch", type=int, default=1, help="faces inverted together")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s), median of {args.steps} steps; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine inflates the times)"
    )
    for name in args.configs:
        bench(name, args.steps, args.batch, device)


if __name__ == "__main__":
    main()
