"""``kedro run --pipelines evaluate --params "scores=OUT/scores.csv,labels=LABELS.csv,output_dir=EVAL"``.

The same nodes evaluate inside the scoring contract when it is given labels
(``kedro run --params "input_dir=DIR,labels=LABELS.csv"``): :func:`evaluation_nodes` is the
modular pipeline both use, with its inputs mapped to the right datasets.
"""

from kedro.pipeline import Node, Pipeline, pipeline

from .nodes import evaluate_scores, plot_evaluation, summarize_variants


def evaluation_nodes() -> Pipeline:
    """Metrics, comparison, plots and the per-variant table from ``scores_table`` and ``labels_table``."""
    return Pipeline(
        [
            Node(
                evaluate_scores,
                inputs=["scores_table", "labels_table", "params:evaluate"],
                outputs=["evaluation_metrics", "variant_comparison", "variant_comparison_md"],
                name="evaluate_scores",
            ),
            Node(
                plot_evaluation,
                inputs=["scores_table", "labels_table", "params:evaluate"],
                outputs="evaluation_plots",
                name="plot_evaluation",
            ),
            Node(
                summarize_variants,
                inputs=["scores_table", "labels_table", "params:evaluate"],
                outputs="variant_summary",
                name="summarize_variants",
            ),
        ],
        tags="evaluate",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        evaluation_nodes(),
        inputs={"scores_table": "scores_for_evaluation", "labels_table": "labels"},
        parameters={"params:evaluate": "params:evaluate"},
    )
