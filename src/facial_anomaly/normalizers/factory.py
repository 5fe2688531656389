"""Build the configured normalizers from :class:`NormalizeConfig` and the fitted models they
need (for the pipelines, the workers and notebooks). Adding a normalizer touches its own
module, its entry in :data:`~.config.NORMALIZER_NAMES` and, when it needs a fitted model,
:data:`~.config.REQUIRED_MODELS` and :func:`model_from_bytes`."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ..provenance import ModelMismatch
from .appearance_model import AppearanceModel
from .base import Normalizer, available, create, load_state
from .config import REQUIRED_MODELS, NormalizeConfig
from .shape_model import ShapeModel

FIT_COMMAND = "kedro run --pipelines fit_normal_models --params input_dir=<folder of normal face photos>"
TRAIN_COMMAND = "kedro run --pipelines synthesize, then kedro run --pipelines train_reconstruction"


def model_from_bytes(name: str, data: bytes, *, source: str, device: str = "cpu") -> Any:
    """A fitted model (``shape_model``, ``appearance_model``) or trained reconstruction model
    (``ganomaly``, ``autoencoder``) from its file's bytes, checked against this code.

    Raises:
        ModelMismatch: the file is not a valid model of that name (message names ``source``).
    """
    try:
        if name in ("shape_model", "appearance_model"):
            model_class = ShapeModel if name == "shape_model" else AppearanceModel
            return model_class.from_state(*load_state(io.BytesIO(data)), source=source)
        if name in ("ganomaly", "autoencoder"):
            from ..devices import resolve_device
            from .reconstruction.checkpoint import model_from_bytes as reconstruction_from_bytes

            model = reconstruction_from_bytes(data, resolve_device(device))
            if getattr(model, "architecture", name) != name:
                raise ModelMismatch(f"{source}: holds a {model.architecture!r} model, not {name!r}")
            return model
    except ModelMismatch:
        raise
    except Exception as error:  # a corrupt or foreign file: say which file and why
        raise ModelMismatch(f"{source}: not a readable {name} file ({type(error).__name__}: {error})") from error
    raise KeyError(f"no loader for model {name!r}")


def missing_model_message(normalizer: str, model: str) -> str:
    """What to run when ``normalizer`` finds no ``model``."""
    how = TRAIN_COMMAND if model in ("ganomaly", "autoencoder") else FIT_COMMAND
    return f"normalizer {normalizer!r} needs a fitted {model}: {how}"


def build_normalizer(
    name: str,
    normalizer_params: Mapping,
    *,
    shape_model: ShapeModel | None = None,
    appearance_model: AppearanceModel | None = None,
    models: Mapping[str, Any] | None = None,
) -> Normalizer:
    """The normalizer ``name`` with its settings from ``normalizer_params[name]``
    (a :class:`NormalizeConfig`, or the equivalent mapping).

    ``models`` (or the ``shape_model`` / ``appearance_model`` keywords) are the fitted
    models the model-based normalizers need. For ``inpaint`` the ``reference`` entry names
    the normalizer giving the initial anomaly map; the appearance normalizer (for ``fill:
    appearance``) is shared with the reference when that is ``appearance_model``.

    Raises:
        KeyError: unknown normalizer name (listing the available ones).
        ValueError: a model the normalizer needs is missing.
    """
    models = dict(models or {})
    models.setdefault("shape_model", shape_model)
    models.setdefault("appearance_model", appearance_model)
    if name == "stylegan2":
        from .stylegan2 import StyleGAN2Normalizer
        from .stylegan2.presets import stylegan2_settings

        settings = normalizer_params["stylegan2"]
        return StyleGAN2Normalizer(**stylegan2_settings(settings["preset"], settings["checkpoint"]))
    if name in ("ganomaly", "autoencoder"):
        if models.get(name) is None:
            raise ValueError(missing_model_message(name, name))
        settings = normalizer_params["reconstruction"]
        return create(
            name,
            model=models[name],
            device=settings["device"],
            batch_size=settings["batch_size"],
            paste=dict(settings["paste"]),
        )
    if name not in available():
        raise KeyError(f"unknown normalizer {name!r}; available: {list(available())}")
    if name in ("shape_model", "appearance_model"):
        if models.get(name) is None:
            raise ValueError(missing_model_message(name, name))
        return create(name, model=models[name], **normalizer_params[name])
    if name == "inpaint":
        params = dict(normalizer_params["inpaint"])
        reference_name = params.pop("reference")
        if reference_name == "inpaint":
            raise ValueError("the inpaint normalizer cannot be its own reference")
        appearance = None
        if models.get("appearance_model") is not None:
            appearance = build_normalizer("appearance_model", normalizer_params, models=models)
        if reference_name == "appearance_model" and appearance is not None:
            reference = appearance
        else:
            reference = build_normalizer(reference_name, normalizer_params, models=models)
        return create("inpaint", reference=reference, appearance=appearance, **params)
    if name == "mirror":
        # Typed settings with defaults in code: a parameters file without the block works.
        return create(name, **normalizer_params.get(name, {}))
    return create(name, **normalizer_params[name])


def build_normalizers(config: NormalizeConfig, models: Mapping[str, Any]) -> dict[str, Normalizer]:
    """Every normalizer of ``config.names``, in order."""
    for name in config.names:
        for model in REQUIRED_MODELS.get(name, ()):
            if models.get(model) is None:
                raise ValueError(missing_model_message(name, model))
    return {name: build_normalizer(name, config, models=models) for name in config.names}
