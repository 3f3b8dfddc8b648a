"""SHAP explanations: a capped sample of contributions, global importance and shap plots."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from matplotlib.figure import Figure

from behaviorlab.data.contract import CUSTOMER_ID, CUTOFF
from behaviorlab.modeling.model import CalibratedModel


def sample_rows(table: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn without replacement, in their original order."""
    if len(table) <= max_rows:
        return table
    return table.sample(n=max_rows, random_state=seed).sort_index()


def contributions_sample(model: CalibratedModel, table: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cutoff and one signed log-odds contribution column per feature."""
    contributions = model.contributions(table).reset_index(drop=True)
    keys = table[[CUSTOMER_ID, CUTOFF]].reset_index(drop=True)
    return pd.concat([keys, contributions], axis=1)


def shap_importance(contributions: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature, largest first."""
    mean_abs = contributions.abs().mean(axis=0)
    table = pd.DataFrame({"feature": mean_abs.index, "mean_abs_shap": mean_abs.to_numpy()})
    return table.sort_values("mean_abs_shap", ascending=False, ignore_index=True)


def plotting_values(features: pd.DataFrame) -> np.ndarray:
    """Feature values as floats for colouring: categoricals as their codes, missing as NaN."""
    columns = [
        features[name].cat.codes.where(features[name].notna()).astype(float)
        if features[name].dtype == "category"
        else features[name].astype(float)
        for name in features.columns
    ]
    return np.column_stack(columns)


def build_explanation(model: CalibratedModel, table: pd.DataFrame, contributions: pd.DataFrame):
    """A shap.Explanation from precomputed contributions and the matching feature values."""
    features = model.prepare(table)
    return shap.Explanation(
        values=contributions[model.feature_names].to_numpy(),
        base_values=np.full(len(features), model.expected_value),
        data=plotting_values(features),
        feature_names=model.feature_names,
    )


def capture(draw, title: str) -> Figure:
    """Run a shap drawing function on a fresh pyplot axes, title it and hand the figure back."""
    figure, axes = plt.subplots(figsize=(8, 6))
    draw(axes)
    axes.set_title(title)
    figure.tight_layout()
    plt.close(figure)
    return figure


def label_levels(figure: Figure, levels: list) -> Figure:
    """Name the category codes on the x axis of a dependence plot."""
    figure.axes[0].set_xticks(range(len(levels)), [str(level) for level in levels], rotation=30)
    return figure


def shap_figures(
    explanation: shap.Explanation,
    importance: pd.DataFrame,
    n_dependence: int,
    categories: dict[str, list],
):
    """Beeswarm summary, mean |SHAP| bar and dependence plots of the top features."""
    figures = {
        "shap_beeswarm": capture(
            lambda ax: shap.plots.beeswarm(explanation, ax=ax, plot_size=None, show=False),
            "SHAP summary (log-odds contributions)",
        ),
        "shap_bar": capture(
            lambda ax: shap.plots.bar(explanation, ax=ax, show=False), "Mean |SHAP| per feature"
        ),
    }
    for name in importance["feature"].head(n_dependence):
        figures[f"shap_dependence_{name}"] = capture(
            lambda ax, name=name: shap.plots.scatter(
                explanation[:, name], color=explanation, ax=ax, show=False
            ),
            f"SHAP dependence: {name}",
        )
        if name in categories:
            label_levels(figures[f"shap_dependence_{name}"], categories[name])
    return figures
