"""Mask-then-fill normalizer (Hayajneh et al. 2025)."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.normalizers import build_normalizer, create
from facial_anomaly.normalizers.geometry import face_region_mask


def _inpaint(normalizer_params, appearance_model, **overrides):
    params = {**normalizer_params, "inpaint": {**normalizer_params["inpaint"], **overrides}}
    return build_normalizer("inpaint", params, appearance_model=appearance_model)


def _error_to_clean(out, blemished_face) -> float:
    return float(np.abs(out.image.astype(float) - blemished_face["clean"]).sum(axis=2)[blemished_face["disc"]].mean())


@pytest.mark.parametrize("fill", ["telea", "ns", "appearance"])
def test_blemish_is_masked_and_filled(fill, normalizer_params, appearance_model, blemished_face):
    face, disc = blemished_face["rgb"], blemished_face["disc"]
    out = _inpaint(normalizer_params, appearance_model, fill=fill).normalize(face, blemished_face["landmarks"])
    residual = np.abs(out.image.astype(float) - face).sum(axis=2)
    elsewhere = (face_region_mask(blemished_face["landmarks"], face.shape, feather_px=0) > 0.5) & ~disc
    assert residual[disc].mean() > 50 * max(residual[elsewhere].mean(), 0.1)
    assert (out.confidence[disc] == 0).all()  # every blemish pixel was filled
    assert (out.confidence < 1).sum() < 12 * disc.sum()  # ... and not much else
    blemish = np.abs(face.astype(float) - blemished_face["clean"]).sum(axis=2)[disc].mean()
    assert _error_to_clean(out, blemished_face) < 0.5 * blemish


def test_appearance_fill_beats_opencv_inpainting(normalizer_params, appearance_model, blemished_face):
    errors = {
        fill: _error_to_clean(
            _inpaint(normalizer_params, appearance_model, fill=fill).normalize(
                blemished_face["rgb"], blemished_face["landmarks"]
            ),
            blemished_face,
        )
        for fill in ("telea", "appearance")
    }
    assert errors["appearance"] < errors["telea"]


def test_normal_face_is_returned_unchanged(normalizer_params, appearance_model, symmetric_astronaut):
    out = _inpaint(normalizer_params, appearance_model).normalize(
        symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    )
    np.testing.assert_array_equal(out.image, symmetric_astronaut["rgb"])
    assert (out.confidence == 1).all()


def test_known_mask_is_filled_without_a_reference(normalizer_params, blemished_face):
    # telea fill with the symmetry normalizer as (unused) reference: no model needed.
    params = {k: v for k, v in normalizer_params["inpaint"].items() if k != "reference"}
    reference = create("symmetry", **normalizer_params["symmetry"])
    normalizer = create("inpaint", reference=reference, appearance=None, **dict(params, fill="telea"))
    out = normalizer.normalize(
        blemished_face["rgb"], blemished_face["landmarks"], mask=blemished_face["disc"].astype(np.float32)
    )
    assert (out.confidence[blemished_face["disc"]] == 0).all()
    assert _error_to_clean(out, blemished_face) < 0.5 * _error_to_clean(
        type(out)(blemished_face["rgb"]), blemished_face
    )


def test_invalid_settings(normalizer_params):
    params = {k: v for k, v in normalizer_params["inpaint"].items() if k != "reference"}
    reference = create("symmetry", **normalizer_params["symmetry"])
    with pytest.raises(ValueError, match="unknown fill"):
        create("inpaint", reference=reference, appearance=None, **dict(params, fill="magic"))
    with pytest.raises(ValueError, match="appearance normalizer"):
        create("inpaint", reference=reference, appearance=None, **dict(params, fill="appearance"))
