"""The trained supervised scorer: aligned faces and their landmarks in, anomaly
probabilities (and severities) out; its checkpoint files.

    scorer = load_scorer("supervised.pt")                 # or the bytes train() returned
    probabilities, severities = scorer.score_batch(faces, landmarks)

A face is turned into its canvas (:mod:`.crops`: eye midpoint, eye line and eye distance
from its landmarks), the configured views are cut from it, the network (:mod:`.networks`)
gives the anomaly logit; ``probability = sigmoid(logit)`` ∈ [0, 1]. ``severity`` is the
expected grade Σ_k P(severity ≥ k) ∈ [0, 4] of the ordinal severity head, NaN for a
network without one. A Siamese network compares the face with its partner made from the
input (:func:`~.crops.partner_image`: ``mirror`` — its own mirror image warped onto its
landmarks — or ``flip``).

With ``partner_shape`` (a fitted :class:`~facial_anomaly.normalizers.ShapeModel` of normal
faces) the mirror partner is warped onto the face's *normal shape* instead
(:func:`facial_anomaly.scoring.shape_residual.normal_shape_landmarks`): FaceMesh follows a
drooping mouth corner or a displaced lip, so on the measured landmarks the partner is warped
to droop too and the comparison cancels what the scorer was trained to see (in training the
partner lies on the clean face's landmarks); the robust fit puts the outlying points back
where a normal face of this shape has them (docs/supervised.md: measured palsy 0.69 → 0.87).

A network is not mirror-equivariant, so by default (``mirror_average``) every input is
scored twice, as given and left-right flipped, and the two outputs are averaged: a face and
its mirror image then get the same score (the views are symmetric about the face's
midline, so the flipped views are the views of the mirrored face, and the flipped mirror
partner is the mirrored face's partner).

Checkpoint (:mod:`facial_anomaly.training.checkpoint`; ``format``
``facial_anomaly.supervised_scorer``, ``version`` 1): ``config_json`` (the
:class:`ScorerConfig`), ``provenance_json`` and the network's ``state_dict``, read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ..config import Config
from ..devices import resolve_device
from ..provenance import model_provenance
from ..training.checkpoint import (
    CheckpointFormat,
    Source,
    check_state_dict,
    envelope,
    json_entry,
    payload_to_bytes,
    read_checkpoint,
    write_payload,
)
from .crops import PARTNERS, Canvas, CropConfig, cut_view, face_canvas, partner_image
from .networks import AnomalyNet, NetworkConfig

FORMAT = CheckpointFormat(
    name="facial_anomaly.supervised_scorer", version=1, label="supervised-scorer", provenance_kind="supervised_scorer"
)


class ScorerConfig(Config):
    """Everything scoring needs besides the weights (stored in the checkpoint)."""

    crops: CropConfig = CropConfig()
    network: NetworkConfig = NetworkConfig()
    partner: Literal["mirror", "flip"] = Field("mirror", description=f"Siamese partner, one of {PARTNERS}")

    @property
    def partner_kind(self) -> str | None:
        """The partner the network compares with, or None for a single-branch network."""
        return self.partner if self.network.uses_partner else None


class SupervisedScorer:
    """A trained network with its geometry (see the module docstring); eval mode, on ``device``."""

    def __init__(
        self, config: ScorerConfig, network: AnomalyNet, *, training_data: str = "unknown", mirror_average: bool = True
    ):
        self.config = config
        self.network = network.eval()
        self.training_data = training_data
        self.mirror_average = mirror_average
        self.partner_shape = None  # a ShapeModel: the mirror partner on the normal shape (module docstring)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def has_severity(self) -> bool:
        return self.network.severity is not None

    def to(self, device: str | torch.device) -> SupervisedScorer:
        self.network.to(resolve_device(device) if isinstance(device, str) else device)
        return self

    def canvases(self, faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> list[Canvas]:
        if len(faces) != len(landmarks):
            raise ValueError(f"need one landmark array per face: {len(faces)} faces, {len(landmarks)} landmark arrays")
        return [face_canvas(face, points, self.config.crops) for face, points in zip(faces, landmarks)]

    def inputs(
        self,
        images: Sequence[np.ndarray],
        partners: Sequence[np.ndarray] | None = None,
        landmarks: Sequence[np.ndarray] | None = None,
    ):
        """Canvas images (and partners, made from the images and their canvas ``landmarks``
        when the network needs them and none are given) → ``uint8`` tensors (N, V, 3, S, S)
        (partners None for a single-branch network)."""
        views = self.config.network.views
        crops = self.config.crops

        def stack(pictures):
            return torch.from_numpy(
                np.ascontiguousarray(
                    np.stack([[cut_view(p, v, crops).transpose(2, 0, 1) for v in views] for p in pictures])
                )
            )

        faces = stack(images)
        if not self.network.needs_partner:
            return faces, None
        if partners is None:
            if landmarks is None and self.config.partner != "flip":
                raise ValueError("the mirror partner needs the canvases' landmarks")
            points = landmarks if landmarks is not None else [None] * len(images)
            partners = [partner_image(image, p, self.config.partner) for image, p in zip(images, points)]
        return faces, stack(partners)

    @torch.no_grad()
    def score_inputs(
        self, faces: torch.Tensor, partners: torch.Tensor | None, *, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prepared inputs → ``(probabilities (N,), severities (N,))`` float64 (the mean over
        the inputs and their left-right flips when ``mirror_average``)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if self.mirror_average:
            _check_mirror_symmetric_views(self.config.crops)
        device = self.device
        probabilities, severities = [], []
        self.network.eval()
        for start in range(0, len(faces), batch_size):
            chunk = slice(start, start + batch_size)
            face_batch = faces[chunk].to(device)
            partner_batch = None if partners is None else partners[chunk].to(device)
            outputs = [self.network(face_batch, partner_batch)]
            if self.mirror_average:
                flipped = None if partner_batch is None else partner_batch.flip(-1)
                outputs.append(self.network(face_batch.flip(-1), flipped))
            probabilities.append(torch.stack([torch.sigmoid(out["logit"]) for out in outputs]).mean(0).double().cpu())
            if outputs[0]["severity_logits"] is not None:
                expected = [torch.sigmoid(out["severity_logits"]).sum(dim=1) for out in outputs]
                severities.append(torch.stack(expected).mean(0).double().cpu())
        if not probabilities:
            return np.zeros(0), np.zeros(0)
        probability = torch.cat(probabilities).numpy()
        severity = torch.cat(severities).numpy() if severities else np.full(len(probability), np.nan)
        return probability, severity

    def score_canvases(
        self,
        canvases: Sequence[Canvas],
        *,
        batch_size: int = 64,
        partner_landmarks: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Canvases → ``(probabilities, severities)``; the mirror partner on
        ``partner_landmarks`` (canvas pixels) when given, else on the canvases' own."""
        points = partner_landmarks if partner_landmarks is not None else [c.landmarks for c in canvases]
        inputs = self.inputs([c.image for c in canvases], landmarks=points)
        return self.score_inputs(*inputs, batch_size=batch_size)

    def partner_landmarks(self, canvases: Sequence[Canvas], landmarks: Sequence[np.ndarray]) -> list[np.ndarray] | None:
        """Where the mirror partners of ``canvases`` (made from faces with ``landmarks``) are
        warped to, in canvas pixels: the faces' normal shapes with ``partner_shape``, else
        None (the canvases' own landmarks)."""
        if self.partner_shape is None or self.config.partner_kind != "mirror":
            return None
        from ..faces.alignment import transform_points
        from ..scoring.shape_residual import normal_shape_landmarks

        return [
            transform_points(normal_shape_landmarks(points, self.partner_shape), canvas.matrix)
            for canvas, points in zip(canvases, landmarks)
        ]

    def score_batch(
        self, faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray], *, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Aligned faces (H×W×3 uint8 RGB) with their (478, 3) landmarks → ``(probabilities
        (N,) in [0, 1], severities (N,) in [0, 4] or NaN)``, float64. Faces are turned into
        canvases ``batch_size`` at a time, so memory stays flat."""
        probabilities, severities = [], []
        for start in range(0, len(faces), batch_size):
            points = landmarks[start : start + batch_size]
            canvases = self.canvases(faces[start : start + batch_size], points)
            partners = self.partner_landmarks(canvases, points)
            p, s = self.score_canvases(canvases, batch_size=batch_size, partner_landmarks=partners)
            probabilities.append(p)
            severities.append(s)
        if not probabilities:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(probabilities), np.concatenate(severities)

    def score(self, face: np.ndarray, landmarks: np.ndarray) -> tuple[float, float]:
        """One face → ``(probability, severity)``."""
        probability, severity = self.score_batch([face], [landmarks], batch_size=1)
        return float(probability[0]), float(severity[0])


def _check_mirror_symmetric_views(crops: CropConfig) -> None:
    for name in ("full_face_box", "lower_face_box"):
        x0, x1 = getattr(crops, name)[:2]
        if not np.isclose(x0, -x1):
            raise ValueError(
                f"mirror_average needs views symmetric about the midline: crops.{name} has x0 = {x0}, x1 = {x1}; "
                "score with mirror_average=False"
            )


# ---------------------------------------------------------------------------- checkpoints


def build_network(config: ScorerConfig, *, pretrained: bool) -> AnomalyNet:
    """A fresh network of ``config`` (ImageNet weights only when ``pretrained`` and configured)."""
    network_config = config.network
    if not pretrained and network_config.pretrained:
        network_config = network_config.model_copy(update={"pretrained": False})
    return AnomalyNet(network_config)


def provenance(config: ScorerConfig, training_data: str) -> dict:
    """The provenance record of a scorer of ``config`` (it places its views by the landmarks)."""
    return model_provenance(
        FORMAT.provenance_kind,
        schema_version=FORMAT.version,
        params=config.model_dump(mode="json"),
        training_data=training_data,
    )


def _payload(scorer: SupervisedScorer) -> dict:
    return envelope(
        FORMAT,
        "model",
        config=scorer.config.model_dump(mode="json"),
        state_dict=scorer.network.state_dict(),
        provenance=provenance(scorer.config, scorer.training_data),
    )


def scorer_to_bytes(scorer: SupervisedScorer) -> bytes:
    """The scorer's checkpoint bytes (what :func:`save_scorer` writes)."""
    return payload_to_bytes(_payload(scorer))


def save_scorer(scorer: SupervisedScorer, path: str | os.PathLike) -> Path:
    """Write the scorer's checkpoint to ``path`` atomically; returns the path."""
    return write_payload(_payload(scorer), path)


def scorer_with_state(
    config: ScorerConfig | dict, state_dict, source: str, device: str | torch.device = "cpu"
) -> SupervisedScorer:
    """A scorer of ``config`` holding ``state_dict``, on ``device``, in eval mode.

    Raises:
        ValueError: an invalid config, or weights that do not fit it (every key listed).
    """
    config = config if isinstance(config, ScorerConfig) else ScorerConfig.model_validate(config)
    network = build_network(config, pretrained=False)
    check_state_dict(network, state_dict, source)
    network.load_state_dict(state_dict, strict=True)
    return SupervisedScorer(config, network.to(resolve_device(device) if isinstance(device, str) else device))


def load_scorer(
    source: Source, device: str | torch.device = "auto", *, mirror_average: bool = True, partner_shape=None
) -> SupervisedScorer:
    """A scorer from a checkpoint file or bytes, on ``device`` (``auto``: cuda when present),
    averaging each input with its mirror image when ``mirror_average``; ``partner_shape``: a
    fitted ``ShapeModel`` to warp the mirror partner onto each face's normal shape (module
    docstring), or None.

    Raises:
        FileNotFoundError: a missing file (named).
        ValueError: not a supervised-scorer checkpoint of this version, a provenance of
            another model kind (:class:`~facial_anomaly.provenance.ModelMismatch`), an invalid
            config or weights that do not fit it; each message names the file.
    """
    payload, name = read_checkpoint(source, FORMAT)
    try:
        config = ScorerConfig.model_validate(json_entry(payload, "config_json", name))
    except ValueError as error:
        raise ValueError(f"{name}: invalid scorer config: {error}") from error
    scorer = scorer_with_state(config, payload["state_dict"], name, device)
    scorer.mirror_average = mirror_average
    scorer.partner_shape = partner_shape
    scorer.training_data = json_entry(payload, "provenance_json", name).get("training_data", "unknown")
    return scorer
