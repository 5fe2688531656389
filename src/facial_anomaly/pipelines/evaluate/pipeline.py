"""``kedro run --pipeline evaluate --params "scores=OUT/scores.csv,labels=LABELS.csv,output_dir=EVAL"``."""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_scores, plot_evaluation


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_scores,
                inputs=["scores_for_evaluation", "labels", "params:evaluate"],
                outputs=["evaluation_metrics", "variant_comparison", "variant_comparison_md"],
                name="evaluate_scores",
            ),
            Node(
                plot_evaluation,
                inputs=["scores_for_evaluation", "labels", "params:evaluate"],
                outputs="evaluation_plots",
                name="plot_evaluation",
            ),
        ],
        tags="evaluate",
    )
