"""``kedro run --pipeline stylegan2_inspect [--params stylegan2.preset=...]``."""

from kedro.pipeline import Node, Pipeline

from .nodes import inspect_stylegan2


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                inspect_stylegan2,
                inputs=[
                    "aligned_faces",
                    "face_geometry",
                    "landmarks",
                    "params:stylegan2",
                    "params:stylegan2_presets",
                    "params:scores",
                ],
                outputs=["stylegan2_snapshots", "stylegan2_severity", "stylegan2_curves"],
                name="inspect_stylegan2",
                tags="gpu",
            )
        ],
        tags="stylegan2",
    )
