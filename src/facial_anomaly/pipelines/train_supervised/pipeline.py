"""``kedro run --pipelines train_supervised --params "input_dir=<normal photos>[,persons=persons.csv]"``:
preprocess the normal photos, split them by person, train the supervised scorer on fresh
synthetic anomalies, fit the fused default score on dev rows and evaluate on the test
persons (see parameters_train_supervised.yml and docs/supervised.md)."""

from kedro.pipeline import Node, Pipeline

from ..preprocess import create_pipeline as create_preprocess_pipeline
from .nodes import evaluate_supervised_scorer, split_supervised_faces, train_supervised_scorer


def create_pipeline(**kwargs) -> Pipeline:
    faces = ["supervised_split", "aligned_face_images", "landmarks", "params:train_supervised", "params:synthesize"]
    training = Pipeline(
        [
            Node(
                split_supervised_faces,
                inputs=["preprocess_report", "aligned_face_images", "synthesis_persons", "params:train_supervised"],
                outputs="supervised_split",
                name="split_supervised_faces",
            ),
            Node(
                train_supervised_scorer,
                inputs=faces,
                outputs=["supervised_scorer", "supervised_history", "supervised_training_summary"],
                name="train_supervised_scorer",
                tags="gpu",
            ),
            Node(
                evaluate_supervised_scorer,
                inputs=["supervised_scorer", *faces],
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
