"""``kedro run --pipelines preprocess --params input_dir=<photos>``."""

from kedro.pipeline import Node, Pipeline

from .nodes import preprocess_photos


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                preprocess_photos,
                inputs=["photos", "aligned_faces", "params:preprocess", "params:executor"],
                outputs=["preprocess_report", "alignment", "landmarks", "preprocess_summary"],
                name="preprocess_photos",
            ),
        ],
        tags="preprocess",
    )
