"""Nodes of ``train_supervised``: a person-disjoint split of this run's aligned normal faces,
the supervised scorer trained on fresh synthetic anomalies of the train faces, the fused
default score refitted on dev rows, and the evaluation on the held-out test faces
(synthetic anomalies made with another seed, harmless capture changes).

The science is in :mod:`facial_anomaly.supervised`; these nodes only wire it to the catalog.
Heavy modules (torch, scikit-learn) are imported inside the nodes, so listing or running
other pipelines never pays for them."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import pandas as pd

from facial_anomaly.evaluation import markdown_table
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.storage.models import ModelStore
from facial_anomaly.supervised.run_config import TrainSupervisedConfig
from facial_anomaly.synthesis.config import SynthesizeConfig
from facial_anomaly.synthesis.split import split_by_person

from .._aligned import load_aligned, ok_image_ids
from ..synthesize.nodes import persons_by_image

logger = logging.getLogger(__name__)


def split_supervised_faces(
    face_geometry: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    persons: pd.DataFrame | None,
    train_supervised: TrainSupervisedConfig,
) -> pd.DataFrame:
    """``image_id``, ``image``, ``person``, ``split`` of every aligned face of this run, persons
    kept together (a face without a row in the persons table is its own person).

    Raises:
        ValueError: the train or dev split would be empty (too few persons).
    """
    known = persons_by_image(persons)
    ids = ok_image_ids(face_geometry, aligned_faces)
    table = face_geometry.set_index("image_id").loc[ids, ["image"]].reset_index()
    table["person"] = [str(known.get(image, {}).get("person", image)) for image in table["image"]]
    fractions = train_supervised.split.model_dump()
    assignment = split_by_person(table["person"], fractions, train_supervised.split_seed)
    table["split"] = [assignment[person] for person in table["person"]]
    counts = table["split"].value_counts().to_dict()
    for split in ("train", "dev"):
        if not counts.get(split):
            raise ValueError(
                f"no person fell into the {split} split ({len(table)} faces of {table['person'].nunique()} persons): "
                "train_supervised needs more people (name them in a persons table) or other split fractions"
            )
    logger.info("train_supervised split: %s faces", {split: counts.get(split, 0) for split in fractions})
    return table


def index_supervised_faces(split_table: pd.DataFrame, landmarks: pd.DataFrame) -> pd.DataFrame:
    """The split table with each face's (478, 3) landmarks in a ``points`` column, what the
    training and evaluation nodes read their faces by."""
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(set(split_table["image_id"]))])
    return split_table.assign(points=[points[i] for i in split_table["image_id"]])


def _faces(faces: pd.DataFrame, aligned_faces: dict, split: str):
    rows = faces[faces["split"] == split]
    ids = list(rows["image_id"])
    return [load_aligned(aligned_faces, i)[0] for i in ids], list(rows["points"]), ids


def train_supervised_scorer(
    faces_table: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    train_supervised: TrainSupervisedConfig,
    synthesize: SynthesizeConfig,
) -> tuple[bytes, pd.DataFrame, dict]:
    """The scorer checkpoint (best state by smoothed dev AUC), its training history (one row
    per evaluation; an MLflow metric history per column) and a summary."""
    from facial_anomaly.supervised.trainer import train

    config = train_supervised.scorer_config()
    synthesize = synthesize.parameters()
    chosen = faces_table[faces_table["split"].isin(["train", "dev"])]
    faces, points, ids = [], [], []
    for split in ("train", "dev"):
        split_faces, split_points, split_ids = _faces(chosen, aligned_faces, split)
        faces += split_faces
        points += split_points
        ids += split_ids
    splits = chosen.set_index("image_id").loc[ids, "split"].tolist()
    persons = chosen.set_index("image_id").loc[ids, "person"].tolist()
    trained = train(
        faces,
        points,
        splits,
        synth_params=synthesize,
        config=config,
        persons=persons,
        names=ids,
        prepare_workers=train_supervised.prepare_workers,
    )
    history = trained.history
    summary = {
        "train_faces": int(splits.count("train")),
        "dev_faces": int(splits.count("dev")),
        "steps": int(config.training.steps),
        "best_step": int(min(trained.result.best_epoch * config.training.eval_every, config.training.steps)),
        "best_dev_auc": float(history["dev_auc"].max()) if "dev_auc" in history else float("nan"),
        "bfloat16_steps": int(trained.precision == "bfloat16"),  # what precision "auto" resolved to
        **{f"seconds_{name}": round(float(value), 2) for name, value in trained.seconds.items()},
    }
    logger.info("train_supervised: %s", summary)
    return trained.checkpoint, history, summary


# The fitted model each kind of fused column needs (none for the mirror normalizer's plain variants).
_COLUMN_MODELS = {"padim": "padim", "shape_residual": "shape_model", "z": "normal_variation"}


def _column_model(column: str) -> str | None:
    from facial_anomaly.scoring.columns import parse_column

    source, _, details = parse_column(column)
    if source == "variant":
        return _COLUMN_MODELS["z"] if details[1].summary.startswith("z") else None
    return _COLUMN_MODELS[source]


def _fitted_models(
    models: ModelStore, columns: tuple[str, ...], also: tuple[str, ...] = ()
) -> tuple[dict, dict[str, str]]:
    """(the loaded models the columns need, and the models named in ``also``, that
    ``models_dir`` holds; their SHA-1 by name)."""
    from facial_anomaly.batch.fitted_models import load_normal_model

    loaded, sha1 = {}, {}
    for name in sorted({model for model in map(_column_model, columns) if model} | set(also)):
        stored = models.latest(name)
        if stored is not None:
            loaded[name], sha1[name] = load_normal_model(name, stored.data), stored.sha1
    return loaded, sha1


def _unsupervised_columns(columns: tuple[str, ...], fitted: dict):
    """The scorer of the fused columns with the library's default heatmap and region settings
    and the fitted models in ``fitted``."""
    from facial_anomaly.heatmaps.config import HeatmapsConfig
    from facial_anomaly.normalizers.config import NormalizeConfig
    from facial_anomaly.normalizers.factory import build_normalizer
    from facial_anomaly.scoring.columns import parse_column
    from facial_anomaly.supervised.fused import columns_scorer

    heatmaps = HeatmapsConfig()
    parsed = [parse_column(column) for column in columns]
    names = sorted({details[0] for source, _, details in parsed if source == "variant"})
    # Only normalizers that need no fitted model: the fusion is fitted without them.
    return columns_scorer(
        columns,
        normalizers={name: build_normalizer(name, NormalizeConfig()) for name in names},
        heatmap_settings={
            "erosion_size": heatmaps.erosion_size,
            "erosion_iterations": heatmaps.erosion_iterations,
            "channel_reduction": heatmaps.channel_reduction,
            "kind_options": heatmaps.kind_options,
        },
        region_params=heatmaps.regions,
        normal_variation=fitted.get("normal_variation"),
        padim=fitted.get("padim"),
        shape_model=fitted.get("shape_model"),
    )


def evaluate_supervised_scorer(
    checkpoint: bytes,
    faces_table: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    models: ModelStore,
    train_supervised: TrainSupervisedConfig,
    synthesize: SynthesizeConfig,
) -> tuple[dict, pd.DataFrame, dict, str]:
    """The fused default score fitted on full-resolution dev rows (JSON with provenance; an
    empty dict when no columns are fused), the evaluation table (one row per score: the
    scorer, each fused column and the fused score), its metrics and a Markdown report.
    Fused columns whose model is not in ``models_dir`` are left out (named in the metrics)."""
    from sklearn.metrics import roc_auc_score

    from facial_anomaly.supervised.assess import evaluate
    from facial_anomaly.supervised.fresh import prepare_faces
    from facial_anomaly.supervised.fused import (
        PROBABILITY_COLUMN,
        fit_default_fusion,
        full_resolution_table,
    )
    from facial_anomaly.supervised.scorer import load_scorer
    from facial_anomaly.supervised.trainer import severity_spearman

    started = time.perf_counter()
    config = train_supervised.scorer_config()
    synthesize = synthesize.parameters()
    scorer = load_scorer(checkpoint, config.training.device)
    test_faces, test_points, test_ids = _faces(faces_table, aligned_faces, "test")
    rows: dict[str, dict] = {}
    metrics: dict[str, float] = {}
    if test_faces:
        prepared = prepare_faces(
            test_faces,
            test_points,
            synth_params=synthesize,
            crops=config.scorer.crops,
            anomalies=config.anomalies,
            names=test_ids,
            workers=train_supervised.prepare_workers,
        )
        evaluation = evaluate(
            scorer,
            prepared,
            config=config,
            synth_params=synthesize,
            seed=train_supervised.test_seed,
            anomalous_per_face=train_supervised.test_anomalous_per_face,
        )
        rows["supervised"] = dict(evaluation.metrics)
        metrics.update({f"supervised.{key}": value for key, value in evaluation.metrics.items()})
    else:
        logger.warning("train_supervised: no test faces (split.test = 0): the scorer is not evaluated")

    fusion_json: dict = {}
    # the shape model also places the scorer's partner, so the fusion depends on it then too
    also = ("shape_model",) if train_supervised.fusion_partner_shape else ()
    fitted, fitted_sha1 = _fitted_models(models, train_supervised.fused_columns, also)
    columns = tuple(c for c in train_supervised.fused_columns if _column_model(c) in (None, *fitted))
    partner_shape = fitted.get("shape_model") if train_supervised.fusion_partner_shape else None
    left_out = [c for c in train_supervised.fused_columns if c not in columns]
    if left_out:
        logger.warning("train_supervised: fused columns left out, their model is not in models_dir: %s", left_out)
        metrics["fused_columns_without_model"] = len(left_out)
    if columns:
        # each process making rows builds the columns' normalizers and backbone itself
        unsupervised = functools.partial(_unsupervised_columns, columns, fitted)
        scorer.partner_shape = partner_shape  # the rows are scored as a scoring run scores photos
        tables = {}
        loaded = {
            "dev": _faces(faces_table, aligned_faces, "dev"),
            "test": (test_faces, test_points, test_ids),  # decoded once, above
        }
        for split, seed in (("dev", train_supervised.fusion_seed), ("test", train_supervised.test_seed)):
            faces, points, ids = loaded[split]
            if not faces:
                continue
            tables[split] = full_resolution_table(
                scorer,
                faces,
                points,
                ids,
                seed=seed,
                config=config,
                synth_params=synthesize,
                unsupervised=unsupervised,
                measure_landmarks=train_supervised.fusion_measure_landmarks,
                workers=train_supervised.prepare_workers,
            )
        fusion = fit_default_fusion(
            tables["dev"],
            unsupervised_columns=columns,
            checkpoint=checkpoint,
            fitted_models=fitted_sha1,
            target=train_supervised.fusion_target,
            tail_max_of=train_supervised.fusion_tail_max_of,
        )
        fusion.provenance["supervised_partner_shape"] = partner_shape is not None
        fusion_json = fusion.to_dict()
        if "test" in tables:
            test = tables["test"]
            labels = test["label"].to_numpy()
            scored = {PROBABILITY_COLUMN: test[PROBABILITY_COLUMN].to_numpy(float)}
            scored.update({column: test[column].to_numpy(float) for column in columns})
            scored["fused"] = fusion.fuse(test)
            for name, values in scored.items():
                auc = float(roc_auc_score(labels, values)) if len(set(labels)) == 2 else float("nan")
                rho = severity_spearman(values, test)
                rows.setdefault(name, {})["full_resolution_test_auc"] = auc
                rows[name]["full_resolution_severity_spearman"] = rho
                metrics[f"{name}.full_resolution_test_auc"] = auc
                metrics[f"{name}.full_resolution_severity_spearman"] = rho
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("score").reset_index()
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    report = _markdown_report(table, faces_table, fusion_json)
    return fusion_json, table, metrics, report


def _markdown_report(table: pd.DataFrame, split_table: pd.DataFrame, fusion: dict) -> str:
    counts = split_table["split"].value_counts().to_dict()
    lines = [
        "# Supervised scorer",
        "",
        f"Faces: train {counts.get('train', 0)}, dev {counts.get('dev', 0)}, test {counts.get('test', 0)} "
        f"({split_table['person'].nunique()} persons, person-disjoint).",
        "",
    ]
    if len(table):
        shown = [column for column in table.columns if "." not in column or column.startswith("test_auc.")]
        lines += [markdown_table(table[shown], decimals=3), ""]
    if fusion:
        weights = ", ".join(f"{name} {weight:.3f}" for name, weight in zip(fusion["features"], fusion["coefficients"]))
        lines += [f"Fused default score: {fusion.get('kind', 'score_fusion')} of {weights}.", ""]
    return "\n".join(lines)
