"""Build a configured normalizer from the ``normalize.normalizers`` block of
``parameters_normalize.yml`` and the fitted models (for the pipeline and notebooks)."""

from __future__ import annotations

from .appearance_model import AppearanceModel
from .base import Normalizer, available, create
from .shape_model import ShapeModel


def build_normalizer(
    name: str,
    normalizer_params: dict,
    *,
    shape_model: ShapeModel | None = None,
    appearance_model: AppearanceModel | None = None,
) -> Normalizer:
    """The normalizer ``name`` with its parameters from ``normalizer_params[name]``.

    ``shape_model`` / ``appearance_model`` are the fitted models the model-based
    normalizers need. For ``inpaint`` the ``reference`` entry names the normalizer giving
    the initial anomaly map; the appearance normalizer (for ``fill: appearance``) is
    built from ``normalizer_params["appearance_model"]`` and shared with the reference
    when that is ``appearance_model``.

    Raises:
        KeyError: unknown normalizer name (listing the available ones).
        ValueError: a model the normalizer needs is missing.
    """
    if name not in available():
        raise KeyError(f"unknown normalizer {name!r}; available: {list(available())}")
    models = {"shape_model": shape_model, "appearance_model": appearance_model}
    if name in models:
        if models[name] is None:
            raise ValueError(f"normalizer {name!r} needs a fitted {name} (see fit_normal_models)")
        return create(name, model=models[name], **normalizer_params[name])
    if name == "inpaint":
        params = dict(normalizer_params["inpaint"])
        reference_name = params.pop("reference")
        if reference_name == "inpaint":
            raise ValueError("the inpaint normalizer cannot be its own reference")
        appearance = None
        if appearance_model is not None:
            appearance = build_normalizer("appearance_model", normalizer_params, appearance_model=appearance_model)
        if reference_name == "appearance_model" and appearance is not None:
            reference = appearance
        else:
            reference = build_normalizer(
                reference_name, normalizer_params, shape_model=shape_model, appearance_model=appearance_model
            )
        return create("inpaint", reference=reference, appearance=appearance, **params)
    if name == "mirror":
        # Typed settings with defaults in code: a parameters file without the block works.
        return create(name, **normalizer_params.get(name, {}))
    return create(name, **normalizer_params[name])
