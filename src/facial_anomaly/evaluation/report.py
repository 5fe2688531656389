"""Plain-text reports of evaluation tables."""

from __future__ import annotations

import numbers

import pandas as pd


def markdown_table(table: pd.DataFrame, *, decimals: int) -> str:
    """A DataFrame as a GitHub Markdown table; real numbers rounded to ``decimals``."""

    def cell(value) -> str:
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
            return "–" if pd.isna(value) else f"{value:.{decimals}f}"
        return str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
