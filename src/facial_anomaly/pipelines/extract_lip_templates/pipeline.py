"""``kedro run --pipelines extract_lip_templates --params template_dir=<cleft-lip photos>``."""

from kedro.pipeline import Node, Pipeline

from .nodes import extract_templates


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                extract_templates,
                inputs=["template_photos", "params:preprocess"],
                outputs=["lip_templates", "lip_template_report"],
                name="extract_lip_templates",
            )
        ],
        tags="synthesize",
    )
