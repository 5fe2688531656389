"""The report stage's gallery: the run's colour scale from the heat sketches the heatmaps stage
stores (the same vmax as from the maps themselves; a file without a sketch, or of another run,
still counts through its map), and thumbnails reused when drawn from the same inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facial_anomaly.batch import gallery, heatmaps, preprocess
from facial_anomaly.batch.gallery import GalleryFolders, ReportConfig, run_vmax
from facial_anomaly.faces.background import pack_face_and_mask
from facial_anomaly.faces.landmarks import NUM_LANDMARKS
from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance, encode_npz, encode_png


def _folders(tmp_path) -> GalleryFolders:
    return GalleryFolders(*(ArtifactFolder(str(tmp_path / name)) for name in ("aligned", "normalized", "heatmaps")))


def _write_image(folders: GalleryFolders, index: int, *, with_sketch: bool, heat_key: str = "heat-key") -> dict:
    rng = np.random.default_rng(index)
    image_id, sha1 = f"img{index}", f"{index:040d}"
    mask = np.zeros((64, 64), np.float32)
    mask[8 + index : 56, 10:54] = 1.0
    record = {f"m{r}{c}": float(r == c) for r in range(2) for c in range(3)}
    record["landmarks"] = [0.0] * (NUM_LANDMARKS * 3)
    face = pack_face_and_mask(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), mask)
    folders.aligned.write(
        preprocess.aligned_name(image_id), encode_png(face, Provenance(preprocess.STAGE, sha1, "aligned-key", record))
    )
    heat = (rng.gamma(1.0 + index, 20.0, size=(64, 64)) * (rng.random((64, 64)) > 0.3)).astype(np.float32)
    arrays = {"heat": heat}
    if with_sketch:
        arrays[heatmaps.SKETCH_MEMBER] = np.array(gallery.json.dumps(heatmaps.heat_sketch(heat, mask).to_dict()))
    provenance = Provenance(f"{heatmaps.STAGE}:symmetry", sha1, heat_key)
    folders.heatmaps.write(heatmaps.heatmap_name("symmetry", image_id), encode_npz(arrays, provenance))
    return {"image_id": image_id, "normalizer": "symmetry", "status": "ok", "source_sha1": sha1,
            "aligned_key": "aligned-key", "params_hash": "heat-key"}  # fmt: skip


def test_vmax_from_stored_sketches_equals_vmax_from_the_maps(tmp_path):
    config = ReportConfig()
    with_sketches, without = _folders(tmp_path / "a"), _folders(tmp_path / "b")
    rows = [_write_image(with_sketches, index, with_sketch=True) for index in range(6)]
    for index in range(6):
        _write_image(without, index, with_sketch=False)
    report = pd.DataFrame(rows)
    from_sketches = run_vmax(report, with_sketches, config)
    from_maps = run_vmax(report, without, config)
    assert from_sketches == from_maps
    assert from_sketches["symmetry"] > 0
    # Read straight from the maps, to the sketch's relative accuracy.
    values = []
    for index in range(6):
        arrays, _ = gallery.decode_npz(without.heatmaps.read(heatmaps.heatmap_name("symmetry", f"img{index}")))
        mask = np.zeros((64, 64), bool)
        mask[8 + index : 56, 10:54] = True
        values.append(arrays["heat"][mask])
    exact = np.percentile(np.concatenate(values), 99.0, method="lower")
    assert abs(from_sketches["symmetry"] / exact - 1) <= 0.006


def test_a_sketch_of_another_run_is_not_used(tmp_path):
    config = ReportConfig()
    folders = _folders(tmp_path)
    rows = [_write_image(folders, index, with_sketch=True) for index in range(3)]
    expected = run_vmax(pd.DataFrame(rows), folders, config)
    # Image 0's file now carries a sketch of a much hotter map under another key: its own
    # record says it was not made for this run, so the map is read instead of the sketch.
    stale = heatmaps.heat_sketch(np.full((64, 64), 1e6, np.float32), np.ones((64, 64), np.float32))
    arrays, stored = gallery.decode_npz(folders.heatmaps.read(heatmaps.heatmap_name("symmetry", "img0")))
    arrays[heatmaps.SKETCH_MEMBER] = np.array(gallery.json.dumps(stale.to_dict()))
    foreign = Provenance(stored.stage, stored.source_sha1, "another-key")
    folders.heatmaps.write(heatmaps.heatmap_name("symmetry", "img0"), encode_npz(arrays, foreign))
    assert run_vmax(pd.DataFrame(rows), folders, config) == expected


def _gallery_inputs(tmp_path, count=4):
    from facial_anomaly.batch import normalize

    folders = GalleryFolders(
        *(ArtifactFolder(str(tmp_path / name)) for name in ("aligned", "normalized", "heatmaps", "thumbnails"))
    )
    rows = []
    for index in range(count):
        row = _write_image(folders, index, with_sketch=True)
        face = np.random.default_rng(100 + index).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        provenance = Provenance(f"{normalize.STAGE}:symmetry", row["source_sha1"], "normalized-key")
        folders.normalized.write(normalize.normalized_name("symmetry", row["image_id"]), encode_png(face, provenance))
        rows.append({**row, "image": f"{row['image_id']}.jpg", "normalized_key": "normalized-key",
                     "pse_ycbcr_eroded__mouth_nose": float(index)})  # fmt: skip
    return folders, pd.DataFrame(rows)


def test_thumbnails_drawn_from_the_same_inputs_are_reused(tmp_path, monkeypatch):
    from facial_anomaly.batch.gallery import draw_gallery, jpeg_comment, plan_gallery, thumbnail_name
    from facial_anomaly.parallel import ExecutorConfig

    # Regions from the fake (all-zero) landmarks would be empty: score the whole tile instead.
    monkeypatch.setattr(gallery, "region_mask", lambda landmarks, shape, region, **params: np.ones(shape[:2], bool))
    folders, report = _gallery_inputs(tmp_path)
    config = ReportConfig(top_bottom=1)
    plan = plan_gallery(report, report[["image_id"]], variant="pse_ycbcr_eroded__mouth_nose", photo_root="",
                        config=config)  # fmt: skip
    serial = ExecutorConfig(kind="serial")

    def draw(settings):
        return draw_gallery(plan, report, folders, settings, region_params={"mouth_nose": {}}, executor=serial)

    thumbnails, panels, _, _, status = draw(config)
    assert len(thumbnails) == 4 and len(panels) == 2 and not status["reused"].any()
    for key, data in thumbnails.items():  # what the report's dataset saves
        normalizer, image_id = key.split("/")
        folders.thumbnails.write(thumbnail_name(normalizer, image_id), data)
        assert jpeg_comment(data)
    again, panels_again, _, _, status = draw(config)
    assert again == thumbnails
    # The two ends of the score range are drawn in full anyway; the middle ones are reused.
    assert status.set_index("image_id")["reused"].to_dict() == {"img0": False, "img1": True, "img2": True,
                                                                "img3": False}  # fmt: skip
    assert panels_again == panels
    # Another colour scale: every thumbnail is drawn again.
    rescaled, _, _, _, status = draw(ReportConfig(top_bottom=1, panel={"vmax": 7.0}))
    assert not status["reused"].any() and rescaled.keys() == thumbnails.keys()
    assert all(rescaled[key] != thumbnails[key] for key in thumbnails)


def test_full_size_panels_drawn_from_the_same_inputs_are_reused(tmp_path, monkeypatch):
    from facial_anomaly.batch.gallery import draw_gallery, figure_name, plan_gallery, thumbnail_name
    from facial_anomaly.parallel import ExecutorConfig
    from facial_anomaly.storage.artifacts import decode_png, png_provenance

    monkeypatch.setattr(gallery, "region_mask", lambda landmarks, shape, region, **params: np.ones(shape[:2], bool))
    folders, report = _gallery_inputs(tmp_path)
    folders = GalleryFolders(
        folders.aligned, folders.normalized, folders.heatmaps, folders.thumbnails, ArtifactFolder(str(tmp_path / "g"))
    )
    config = ReportConfig(top_bottom=1)
    plan = plan_gallery(report, report[["image_id"]], variant="pse_ycbcr_eroded__mouth_nose", photo_root="",
                        config=config)  # fmt: skip

    def draw(settings):
        return draw_gallery(
            plan, report, folders, settings, region_params={"mouth_nose": {}}, executor=ExecutorConfig(kind="serial")
        )

    def save(thumbnails, panels):  # what the report's datasets save
        for key, data in thumbnails.items():
            folders.thumbnails.write(thumbnail_name(*key.split("/")), data)
        for key, data in panels.items():
            folders.gallery.write(figure_name(*key.split("/")), data)

    thumbnails, panels, _, _, status = draw(config)
    assert sorted(panels) == ["symmetry/img0", "symmetry/img3"] and not status["reused"].any()
    image = decode_png(panels["symmetry/img3"], channels=3)
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[1] > 64  # a whole panel, not a tile
    assert png_provenance(panels["symmetry/img3"]).stage == "gallery:panel"
    save(thumbnails, panels)
    again, panels_again, _, _, status = draw(config)
    assert status["reused"].all() and again == thumbnails and panels_again == panels
    # A damaged panel file is drawn again, the others are still reused.
    folders.gallery.write(figure_name("symmetry", "img0"), panels["symmetry/img0"][:-20])
    _, repaired, _, _, status = draw(config)
    assert status.set_index("image_id")["reused"].to_dict() == {"img0": False, "img1": True, "img2": True,
                                                                "img3": True}  # fmt: skip
    assert repaired == panels
    # Another colour scale: the panels are drawn again.
    _, rescaled, _, _, status = draw(ReportConfig(top_bottom=1, panel={"vmax": 7.0}))
    assert not status["reused"].any() and all(rescaled[key] != panels[key] for key in panels)


def test_a_run_with_no_scored_face_plans_and_draws_nothing(tmp_path):
    """Every face failed normalization: the report stage draws nothing instead of failing."""
    from facial_anomaly.batch.gallery import PLAN_COLUMNS, draw_gallery, plan_gallery
    from facial_anomaly.parallel import ExecutorConfig

    folders, report = _gallery_inputs(tmp_path)
    failed = report.assign(status="normalize_failed")
    plan = plan_gallery(failed, failed[["image_id"]], variant="pse_ycbcr_eroded__mouth_nose", photo_root="",
                        config=ReportConfig())  # fmt: skip
    assert plan.empty and list(plan.columns) == PLAN_COLUMNS
    thumbnails, panels, photos, _, status = draw_gallery(
        plan, failed, folders, ReportConfig(), region_params={}, executor=ExecutorConfig(kind="serial")
    )
    assert thumbnails == {} and panels == {} and photos == {} and status.empty
