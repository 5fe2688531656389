"""``kedro run --pipelines train_supervised --params "input_dir=<normal photos>[,persons=persons.csv]"``:
preprocess the normal photos, split them by person, train the supervised scorer on fresh
synthetic anomalies, fit the fused default score on dev rows (with the columns of the models
``fit_normal_models`` saved in ``models_dir``, when there) and evaluate on the test persons
(see parameters_train_supervised.yml and docs/supervised.md)."""

from kedro.pipeline import Node, Pipeline

from ..preprocess import create_pipeline as create_preprocess_pipeline
from .nodes import (
    evaluate_supervised_scorer,
    index_supervised_faces,
    split_supervised_faces,
    train_supervised_scorer,
)


def create_pipeline(**kwargs) -> Pipeline:
    training = Pipeline(
        [
            Node(
                split_supervised_faces,
                inputs=["preprocess_report", "aligned_face_images", "synthesis_persons", "params:train_supervised"],
                outputs="supervised_split",
                name="split_supervised_faces",
            ),
            Node(
                index_supervised_faces,
                inputs=["supervised_split", "landmarks"],
                outputs="supervised_faces",
                name="index_supervised_faces",
            ),
            Node(
                train_supervised_scorer,
                inputs=["supervised_faces", "aligned_face_images", "params:train_supervised", "params:synthesize"],
                outputs=["supervised_scorer", "supervised_history", "supervised_training_summary"],
                name="train_supervised_scorer",
                tags="gpu",
            ),
            Node(
                evaluate_supervised_scorer,
                inputs=[
                    "supervised_scorer",
                    "supervised_faces",
                    "aligned_face_images",
                    "models",
                    "params:train_supervised",
                    "params:synthesize",
                ],
                outputs=[
                    "supervised_fusion",
                    "supervised_evaluation",
                    "supervised_evaluation_summary",
                    "supervised_report",
                ],
                name="evaluate_supervised_scorer",
            ),
        ],
        tags="train_supervised",
    )
    return create_preprocess_pipeline() + training
