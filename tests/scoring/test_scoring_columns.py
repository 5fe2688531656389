import cv2
import numpy as np
import pytest

from facial_anomaly.heatmaps import region_mask
from facial_anomaly.normalizers import MirrorNormalizer, ShapeModel, SymmetryNormalizer
from facial_anomaly.scoring import (
    NormalVariation,
    PadimConfig,
    PadimScorer,
    parse_column,
    score_columns,
    score_variants,
    shape_residual_score,
    top_k_mean,
    variant_maps,
)
from facial_anomaly.scoring.shape_residual import ShapeResidualConfig

REGIONS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}, "full_face": {}}
SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}, "deep": {"backbone": {"input_size": 96, "device": "cpu"}}},
}
PADIM = {"backbone": {"taps": [2, 4], "input_size": 96, "device": "cpu"}, "channels": 16}


@pytest.fixture(scope="module")
def setting(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    rng = np.random.default_rng(0)
    normals = [np.clip(face + rng.normal(0, 3, face.shape), 0, 255).astype(np.uint8) for _ in range(4)]
    normalizers = {
        "mirror": MirrorNormalizer(),
        "symmetry": SymmetryNormalizer(texture_blend=0.0, blend_feather_px=8.0, ring_scale=1.35, border_step_px=64.0),
    }
    grid = {"kinds": ["pse", "deep"], "color_spaces": ["rgb"], "erosion": [False], "regions": ["mouth_nose"]}
    samples = [
        (name, variant_maps(n, normalizer.normalize(n, landmarks).image, landmarks, grid=grid, **SETTINGS))
        for n in normals
        for name, normalizer in normalizers.items()
    ]
    shapes = [landmarks + rng.normal(0, 1.0, landmarks.shape) for _ in range(12)]
    return {
        "face": face,
        "landmarks": landmarks,
        "normalizers": normalizers,
        "nv": NormalVariation.fit(samples),
        "padim": PadimScorer.fit(normals, [landmarks] * 4, PadimConfig.model_validate(PADIM)),
        "shape_model": ShapeModel.fit(
            shapes,
            explained_variance=0.95,
            max_components=5,
            mirror_augment=True,
            procrustes_iterations=10,
            procrustes_tolerance=1e-7,
        ),
    }


def test_columns_equal_their_direct_computation(setting):
    face, landmarks = setting["face"], setting["landmarks"]
    painted = face.copy()
    cv2.circle(painted, tuple(int(v) for v in landmarks[61, :2]), 8, (200, 40, 50), thickness=-1)
    columns = [
        "mirror.deep_base__mouth_nose__ztopk",
        "mirror.pse_base__mouth_nose",
        "symmetry.pse_base__mouth_nose__zmean",
        "padim__mouth_nose__topk",
        "padim__full_face__max",
        "shape_residual__lips__mean",
    ]
    common = dict(
        normalizers=setting["normalizers"],
        heatmap_settings=SETTINGS,
        region_params=REGIONS,
        normal_variation=setting["nv"],
        padim=setting["padim"],
        shape_model=setting["shape_model"],
        top_k_fraction=0.05,
    )
    scores = score_columns(painted, landmarks, columns, **common)
    assert list(scores) == columns
    mirrored = setting["normalizers"]["mirror"].normalize(painted, landmarks).image
    direct = score_variants(
        painted,
        mirrored,
        landmarks,
        grid={
            "kinds": ["deep", "pse"],
            "color_spaces": ["rgb"],
            "erosion": [False],
            "regions": ["mouth_nose"],
            "summaries": ["mean", "ztopk"],
        },
        statistic="anomaly_score",
        region_params=REGIONS,
        normal_variation=setting["nv"].for_normalizer("mirror"),
        top_k_fraction=0.05,
        **SETTINGS,
    )
    assert scores["mirror.deep_base__mouth_nose__ztopk"] == pytest.approx(direct["deep_base__mouth_nose__ztopk"])
    assert scores["mirror.pse_base__mouth_nose"] == pytest.approx(direct["pse_base__mouth_nose"])
    heat = setting["padim"].score_map(painted, landmarks)
    inside = setting["padim"].config.backbone.crop_of(landmarks, face.shape).inside(face.shape)
    mouth = heat[region_mask(landmarks, face.shape, "mouth_nose", margin_iod=0.15) & inside]
    assert scores["padim__mouth_nose__topk"] == pytest.approx(top_k_mean(mouth, fraction=0.05))
    assert scores["padim__full_face__max"] == pytest.approx(
        heat[region_mask(landmarks, face.shape, "full_face") & inside].max()
    )
    expected = shape_residual_score(
        landmarks, setting["shape_model"], ShapeResidualConfig(landmarks="lips", summary="mean")
    )
    assert scores["shape_residual__lips__mean"] == pytest.approx(expected)


def test_column_errors(setting):
    with pytest.raises(ValueError, match="not <normalizer>.<variant>"):
        parse_column("padim__mouth_nose__median")
    assert parse_column("shape_residual__mouth_nose__topk")[0] == "shape_residual"
    with pytest.raises(KeyError, match="'shape_model'"):
        score_columns(
            setting["face"],
            setting["landmarks"],
            ["shape_model.pse_base__mouth_nose"],
            normalizers=setting["normalizers"],
            heatmap_settings=SETTINGS,
            region_params=REGIONS,
        )
    with pytest.raises(ValueError, match="need the normal-variation maps"):
        score_columns(
            setting["face"],
            setting["landmarks"],
            ["mirror.pse_base__mouth_nose__zmean"],
            normalizers=setting["normalizers"],
            heatmap_settings=SETTINGS,
            region_params=REGIONS,
        )
    with pytest.raises(ValueError, match="PadimScorer"):
        score_columns(
            setting["face"],
            setting["landmarks"],
            ["padim__mouth_nose__max"],
            normalizers=setting["normalizers"],
            heatmap_settings=SETTINGS,
            region_params=REGIONS,
        )


def test_tables_are_keyed_by_the_image_id_of_their_relative_paths():
    import pandas as pd

    from facial_anomaly.scoring.table import keyed_by_image_id

    keyed = keyed_by_image_id(pd.DataFrame({"image": ["faces/a b.JPG"], "label": [1]}), "labels")
    assert keyed["image_id"].tolist() == ["faces__a_b.JPG-67bf3831"]
    already = pd.DataFrame({"image_id": ["x"], "image": ["faces/a b.JPG"]})
    assert keyed_by_image_id(already, "labels") is already
    with pytest.raises(KeyError, match=r"the labels table needs an 'image' column.*\['path'\]"):
        keyed_by_image_id(pd.DataFrame({"path": ["a.jpg"]}), "labels")
