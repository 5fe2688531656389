"""``kedro run --pipelines train_reconstruction [--params train_reconstruction.models=[ganomaly]]``
after ``synthesize`` (same output_dir)."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_reconstruction_models


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_reconstruction_models,
                inputs=[
                    "synthetic_faces",
                    "synthetic_labels",
                    "reconstruction_states_if_any",
                    "params:train_reconstruction",
                ],
                outputs=[
                    "reconstruction_checkpoints",
                    "reconstruction_states",
                    "reconstruction_history",
                    "reconstruction_grids",
                    "reconstruction_summary",
                ],
                name="train_reconstruction_models",
                tags="gpu",
            )
        ],
        tags="train_reconstruction",
    )
