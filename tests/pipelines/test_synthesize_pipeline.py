"""extract_lip_templates and synthesize through Kedro runners on the demo sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro_helpers import run_pipeline

from facial_anomaly.pipelines.extract_lip_templates import create_pipeline as templates_pipeline
from facial_anomaly.pipelines.synthesize import create_pipeline as synthesize_pipeline
from facial_anomaly.synthesis.config import SynthesizeConfig


def run(pipeline, root, input_dir=None, **runtime):
    return run_pipeline(pipeline, input_dir, root / "out", models_dir=root / "models", **runtime)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("synthesize")
    write_embedded_sample(root / "sample")
    # Four photos of two "people" (the synthesis stage is the slow part of the suite).
    people = {
        "demo_astronaut.png": "plain",
        "demo_astronaut_mirrored.jpg": "plain",
        "demo_astronaut_rolled.png": "variant",
        "demo_astronaut_bright.jpg": "variant",
    }
    (root / "raw").mkdir()
    for name in people:
        (root / "raw" / name).write_bytes((root / "sample" / name).read_bytes())
    persons = pd.DataFrame({"image": list(people), "person": list(people.values()), "age": [30, 30, 30, None]})
    persons.to_csv(root / "persons.csv", index=False)
    (root / "templates").mkdir()
    (root / "templates" / "template.png").write_bytes((root / "sample" / "demo_astronaut.png").read_bytes())
    (root / "templates" / "notes.txt").write_text("not a photo")
    run(templates_pipeline(), root, template_dir=root / "templates")
    run(synthesize_pipeline(), root, root / "raw", persons=root / "persons.csv")
    labels = pd.read_csv(root / "out/05_model_input/synthetic_labels.csv")
    return root, labels


def test_templates_are_a_small_table_and_every_photo_is_reported(synthesized):
    root, _ = synthesized
    report = pd.read_csv(root / "models/lip_template_report.csv")
    assert dict(zip(report["image"], report["status"])) == {"notes.txt": "unsupported_format", "template.png": "ok"}


def test_labels_cover_every_planned_image_with_the_contract_columns(synthesized):
    _, labels = synthesized
    for column in (
        "image",
        "source_image",
        "person",
        "split",
        "family",
        "severity",
        "label",
        "side",
        "subset",
        "status",
    ):
        assert column in labels.columns
    assert (labels["status"] == "ok").all(), labels.loc[labels["status"] != "ok", ["image", "detail"]]
    assert len(labels) == 4 * 5  # 4 faces × (control + one severity of each of the 4 families)
    assert set(labels["family"].dropna()) == {"lip_lt_v1", "lip_lt_v2", "palsy", "acne"}
    controls = labels[labels["severity"] == 0]
    assert (controls["label"] == "normal").all() and len(controls) == 4
    assert (labels.loc[labels["severity"] > 0, "label"] != "normal").all()
    assert set(labels["subset"].fillna("unknown")) == {"adult", "unknown"}  # no age: no subset


def test_no_person_is_in_two_splits(synthesized):
    _, labels = synthesized
    assert (labels.groupby("person")["split"].nunique() == 1).all()


def test_images_are_written_under_a_content_version(synthesized):
    root, labels = synthesized
    version = labels["dataset_version"].iloc[0]
    folder = root / "out/05_model_input/synthetic" / version
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    assert written == sorted(labels["image"])


def test_controls_equal_the_aligned_faces_and_reruns_are_identical(synthesized):
    from facial_anomaly.datasets import PngArrayDataset
    from facial_anomaly.faces.background import unpack_face_and_mask

    root, labels = synthesized
    folder = root / "out/05_model_input/synthetic" / labels["dataset_version"].iloc[0]
    control = labels[labels["severity"] == 0].iloc[0]
    aligned = unpack_face_and_mask(
        PngArrayDataset(
            filepath=str(root / "out/02_intermediate/aligned" / f"{control['image'].split('/')[-1]}"), mode="rgba"
        ).load()
    )[0]
    np.testing.assert_array_equal(PngArrayDataset(filepath=str(folder / control["image"])).load(), aligned)
    before = {p: p.read_bytes() for p in folder.rglob("*.png")}
    run(synthesize_pipeline(), root, root / "raw", persons=root / "persons.csv")
    assert {p: p.read_bytes() for p in folder.rglob("*.png")} == before  # same version, same bytes


def test_contact_sheets_are_drawn(synthesized):
    root, _ = synthesized
    assert {p.name for p in (root / "out/08_reporting/synthesis_sheets").iterdir()} == {"face.png", "mouth.png"}


def test_lt_v2_without_templates_is_reported_not_dropped(tmp_path):
    from project_paths import load_parameters

    from facial_anomaly.pipelines.synthesize.nodes import synthesize_faces

    plan = pd.DataFrame(
        [
            {
                "source_image_id": "a",
                "source_image": "a.jpg",
                "person": "a",
                "split": "test",
                "subset": None,
                "family": "lip_lt_v2",
                "severity": 2,
                "seed": 1,
                "image": "test/lip_lt_v2/a_s2.png",
            }
        ]
    )
    from facial_anomaly.parallel import ExecutorConfig
    from facial_anomaly.storage.artifacts import ArtifactFolder

    geometry = pd.DataFrame({"image_id": ["a"], "source_sha1": ["x"], "params_hash": ["y"]})
    images, labels, summary = synthesize_faces(
        plan,
        geometry,
        ArtifactFolder(str(tmp_path / "aligned")),  # the face is never read: the templates are missing first
        None,
        SynthesizeConfig.model_validate(load_parameters("synthesize")["synthesize"]),
        ExecutorConfig(kind="serial"),
    )
    assert (
        images == {}
        and labels.loc[0, "status"] == "no_templates"
        and "extract_lip_templates" in labels.loc[0, "detail"]
    )
    assert summary["failed"] == 1


def test_the_process_pool_makes_the_same_set(synthesized, tmp_path):
    """Synthesis runs on the executor, one source face per task: two worker processes give
    the same labels and the same image bytes as the serial run."""
    root, labels = synthesized
    other = tmp_path / "processes"
    run_pipeline(
        synthesize_pipeline(),
        root / "raw",
        other,
        {"executor.kind": "processes", "executor.workers": 2},
        models_dir=root / "models",
        persons=root / "persons.csv",
    )
    again = pd.read_csv(other / "05_model_input/synthetic_labels.csv")
    pd.testing.assert_frame_equal(again, labels)
    version = labels["dataset_version"].iloc[0]
    serial = {
        p.relative_to(root / "out").as_posix(): p.read_bytes()
        for p in (root / "out/05_model_input/synthetic" / version).rglob("*.png")
    }
    pooled = {
        p.relative_to(other).as_posix(): p.read_bytes()
        for p in (other / "05_model_input/synthetic" / version).rglob("*.png")
    }
    assert pooled == serial and len(serial) == len(labels)
