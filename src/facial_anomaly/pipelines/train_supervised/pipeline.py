"""``kedro run --pipeline train_supervised --params "input_dir=<normal faces>[,persons=persons.csv]"``:
preprocess the normal photos, then train the supervised scorers on synthetic pairs made
from them, fit the fusion and evaluate (see parameters_train_supervised.yml)."""

from kedro.pipeline import Node, Pipeline

from ..preprocess import create_pipeline as create_preprocess_pipeline
from .nodes import (
    build_supervised_pairs,
    draw_supervised_cams,
    evaluate_supervised,
    fit_supervised_fusion,
    train_supervised_models,
)


def create_pipeline(**kwargs) -> Pipeline:
    training = Pipeline(
        [
            Node(
                build_supervised_pairs,
                inputs=[
                    "preprocess_report",
                    "aligned_face_images",
                    "landmarks",
                    "synthesis_persons",
                    "params:train_supervised",
                    "params:normalize",
                    "params:synthesize",
                    "params:heatmaps",
                    "params:scores",
                ],
                outputs=["supervised_pairs", "supervised_pair_table"],
                name="build_supervised_pairs",
            ),
            Node(
                train_supervised_models,
                inputs=["supervised_pairs", "params:train_supervised"],
                outputs=[
                    "supervised_checkpoints",
                    "supervised_seed_checkpoints",
                    "supervised_history",
                    "supervised_predictions",
                    "supervised_training_summary",
                ],
                name="train_supervised_models",
                tags="gpu",
            ),
            Node(
                fit_supervised_fusion,
                inputs=[
                    "supervised_predictions",
                    "supervised_pair_table",
                    "supervised_checkpoints",
                    "params:train_supervised",
                    "params:scores",
                ],
                outputs="supervised_fusion",
                name="fit_supervised_fusion",
            ),
            Node(
                evaluate_supervised,
                inputs=[
                    "supervised_predictions",
                    "supervised_pair_table",
                    "supervised_fusion",
                    "params:train_supervised",
                ],
                outputs=[
                    "supervised_evaluation",
                    "supervised_paper_accuracy",
                    "supervised_evaluation_summary",
                    "supervised_report",
                ],
                name="evaluate_supervised",
            ),
            Node(
                draw_supervised_cams,
                inputs=[
                    "supervised_checkpoints",
                    "supervised_pair_table",
                    "aligned_face_images",
                    "landmarks",
                    "params:train_supervised",
                    "params:normalize",
                    "params:synthesize",
                ],
                outputs="supervised_cam_samples",
                name="draw_supervised_cams",
                tags="gpu",
            ),
        ],
        tags="train_supervised",
    )
    return create_preprocess_pipeline() + training
