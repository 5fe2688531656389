"""``kedro run --pipelines stylegan2_inspect [--params stylegan2.preset=...]``."""

from kedro.pipeline import Node, Pipeline

from .nodes import inspect_stylegan2


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                inspect_stylegan2,
                inputs=[
                    "aligned_face_images",
                    "preprocess_report",
                    "landmarks",
                    "params:normalize",
                    "params:heatmaps",
                    "params:stylegan2_inspect.severity_region",
                ],
                outputs=["stylegan2_snapshots", "stylegan2_severity", "stylegan2_curves"],
                name="inspect_stylegan2",
                tags="gpu",
            )
        ],
        tags="stylegan2",
    )
