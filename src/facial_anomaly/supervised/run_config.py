"""Settings of a ``train_supervised`` run (``params:train_supervised``): which preset of the
scorer (:func:`.trainer.preset`) with which values changed, the person-disjoint split, the
seeds of the evaluation sets and the unsupervised columns fused with the scorer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import Config

# Unsupervised score columns that need no fitted model: the face against its mirror image.
DEFAULT_FUSED_COLUMNS = (
    "mirror.pse_ycbcr_eroded__mouth_nose",
    "mirror.pse_ycbcr_eroded__face_without_eyes__topk",
    "mirror.deep_base__lower_face__topk",
    # these need the models of fit_normal_models in models_dir when training; left out otherwise
    "mirror.deep_base__lower_face__ztopk",
    "mirror.ssim_ycbcr_lcn_eroded__lower_face__ztopk",
    "padim__lower_face__topk",
    "shape_residual__lips__mean",
)
# the scorer is strong on most families, the shape residual on measured palsy droops
DEFAULT_TAIL_MAX_OF = ("supervised.probability", "shape_residual__lips__mean")


class SplitFractions(Config):
    """Shares of the persons in each split (they must add up to 1)."""

    train: float = Field(0.6, gt=0, le=1)
    dev: float = Field(0.2, gt=0, le=1)
    test: float = Field(0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _adds_up(self) -> SplitFractions:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must add up to 1, got {total:g}")
        return self


class TrainSupervisedConfig(Config):
    """``params:train_supervised``."""

    parameter = "train_supervised"

    preset: Literal["cpu", "gpu", "smoke_test"] = "cpu"
    """The scorer's preset (:func:`facial_anomaly.supervised.trainer.preset`)."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Values laid over the preset, e.g. ``{"training": {"steps": 3000}}``."""
    split: SplitFractions = SplitFractions()
    split_seed: int = 0
    """Seeds the assignment of persons to splits."""
    test_seed: int = 7
    """Seeds the synthetic test set and the nuisance check (never used in training)."""
    fusion_seed: int = 11
    """Seeds the full-resolution dev rows the fused default score is fitted on."""
    fused_columns: tuple[str, ...] = DEFAULT_FUSED_COLUMNS
    """Unsupervised score columns fused with the scorer's probability (empty: no fusion);
    those whose model (normal-variation maps, PaDiM, shape model) is not in ``models_dir``
    when training are left out, and the fusion names the SHA-1 of each model it used."""
    fusion_target: Literal["severity", "label"] = "severity"
    """What the fused default is fitted to: ``severity`` (graded: the drawn severity of each
    anomalous dev row, so its weights also rank anomalies by severity) or ``label`` (0/1)."""
    fusion_tail_max_of: tuple[str, ...] = DEFAULT_TAIL_MAX_OF
    """Score columns whose largest robust z against the normal dev rows enters the fusion as
    one more feature (the tail maximum of :mod:`facial_anomaly.supervised.fusion`: a row far
    out on the one column that sees its anomaly is not outvoted by the others); only those
    that are fused count (``supervised.probability`` always is; a column not in
    :attr:`fused_columns`, or left out for want of its model, is ignored). Empty: none."""
    fusion_partner_shape: bool = True
    """When ``models_dir`` holds a shape model: the scorer's mirror partner lies on each
    fusion row's normal shape, as in a scoring run with ``scores.supervised_partner_shape``
    (the fusion records the choice; a scoring run with the other one does not apply it)."""
    fusion_measure_landmarks: bool = True
    """FaceMesh measures every full-resolution row the fused default is fitted and checked on,
    as the scoring stage measures every photo (a droop moves the landmarks, the mirror
    partner and the regions follow, the shape residual sees it); false keeps each row's
    source-face landmarks, which flatters the landmark-driven columns (docs/supervised.md)."""
    test_anomalous_per_face: int = Field(8, ge=1)
    """Synthetic anomalies per test face in the evaluation."""
    prepare_workers: int = Field(2, ge=1)
    """Processes preparing the faces and making the fusion's full-resolution rows (FaceMesh
    and the unsupervised columns of each row); 1 works in the node's own process. The
    results do not depend on it (docs/supervised.md, "Within 20 minutes on the AVX2 machine")."""

    @model_validator(mode="after")
    def _settings_are_valid(self) -> TrainSupervisedConfig:
        if self.settings:  # an unknown or invalid setting fails before any work; a bare
            self.scorer_config()  # preset is valid, and checking it would import torch at start-up
        from ..scoring.columns import parse_column

        if self.fused_columns:
            for column in self.fused_columns:
                parse_column(column)
        for column in self.fusion_tail_max_of:
            if column != "supervised.probability":
                try:
                    parse_column(column)
                except ValueError as error:
                    raise ValueError(f"fusion_tail_max_of: {error}") from error
        return self

    def scorer_config(self) -> SupervisedConfig:  # noqa: F821  (imported on use: torch)
        """The preset with :attr:`settings` laid over it
        (:class:`facial_anomaly.supervised.trainer.SupervisedConfig`)."""
        from .trainer import configure

        return configure(self.settings, preset_name=self.preset)
