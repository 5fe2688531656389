"""``kedro run --pipelines scores``: the scores table and the contract's scores.csv from the stage
reports, and the per-variant table (with metrics when ``labels`` is given)."""

from kedro.pipeline import Node, Pipeline, pipeline

from ..evaluate.pipeline import evaluation_nodes
from .nodes import assemble_scores, choose_fusion, export_scores_csv, score_fitted_models


def create_pipeline(**kwargs) -> Pipeline:
    scoring = Pipeline(
        [
            Node(
                score_fitted_models,
                inputs=[
                    "normalize_report",
                    "run_artifacts",
                    "models",
                    "params:scores",
                    "params:heatmaps",
                    "params:executor",
                ],
                outputs=["model_scores", "model_scores_summary"],
                name="score_fitted_models",
                tags="gpu",
            ),
            Node(
                choose_fusion,
                inputs=[
                    "score_fusion_if_fitted",
                    "supervised_fusion_if_fitted",
                    "model_scores_summary",
                    "heatmaps_summary",
                    "params:scores",
                ],
                outputs="fusion_to_apply",
                name="choose_fusion",
            ),
            Node(
                assemble_scores,
                inputs=[
                    "preprocess_report",
                    "normalize_report",
                    "heatmaps_report",
                    "model_scores",
                    "fusion_to_apply",
                    "params:scores",
                ],
                outputs=["scores", "scores_summary"],
                name="assemble_scores",
            ),
            Node(export_scores_csv, inputs="scores", outputs="scores_csv", name="export_scores_csv"),
        ],
        tags="scores",
    )
    evaluation = pipeline(
        evaluation_nodes(),
        inputs={"scores_table": "scores", "labels_table": "labels_if_given"},
        parameters={"params:evaluate": "params:evaluate"},
    )
    return scoring + evaluation
