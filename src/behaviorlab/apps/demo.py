"""The demo: simulate built-in data, train, register, promote, score and analyse it."""

import time

import pandas as pd

from behaviorlab.apps import analyze, score, simulate, train
from behaviorlab.apps.common import compose_app, entry_point, exit_on_user_error

TRAIN_OVERRIDES = ["experiment=sim_churn"]


def banner(text: str) -> None:
    """Mark the start of a stage in the demo's output."""
    print(f"\n=== {text}")


@entry_point
@exit_on_user_error
def main() -> None:
    """Run the whole chain on the demo data and print what it produced."""
    started = time.perf_counter()
    banner("simulate")
    simulated = simulate.run(compose_app("simulate"))
    print(simulate.format_summary(simulated))
    banner("train, register, promote (experiment=sim_churn)")
    trained = train.run(compose_app("train", TRAIN_OVERRIDES))
    trained_at = time.perf_counter() - started
    banner(f"score the customers with {trained['model_name']}@champion")
    scored = score.run(compose_app("score", [f"registered_model={trained['model_name']}@champion"]))
    banner("behavioural analyses")
    analysed = analyze.run(compose_app("analyze"))
    print_summary(simulated, trained, scored, analysed, trained_at, time.perf_counter() - started)


def print_summary(simulated, trained, scored, analysed, trained_at, elapsed) -> None:
    """The few lines a newcomer needs: what ran, how good it is, where to look."""
    print("\n" + "=" * 72)
    print("behaviorlab demo: done")
    print(f"  data       {simulated['events']:,} events of {simulated['customers']:,} customers")
    print(
        f"  model      {trained['model_name']} v{trained['model_version']}"
        f" ({'champion' if trained['promoted'] else 'challenger'}),"
        f" test ROC AUC {trained['roc_auc']:.3f}, PR AUC {trained['pr_auc']:.3f}"
    )
    print(f"  gate       {trained['decision_line']}")
    print(f"  scores     {scored['rows']:,} customers -> {scored['path']}")
    for line in score.tier_lines(scored["tier_summary"], scored["outcome"]):
        print(f"  tier {line}")
    at_risk = analysed.get("clv_high_value_at_risk_customers", 0.0)
    at_stake = analysed.get("clv_high_value_at_risk_total", 0.0)
    print(
        f"  value      {at_risk:,.0f} high-value customers at risk hold {at_stake:,.0f} of"
        f" the {analysed['clv_total']:,.0f} predicted 12-month value"
    )
    print(f"  analyses   {analysed['report']}")
    print(f"  time       {trained_at:.0f} s to a trained model, {elapsed:.0f} s in all")
    print("  look at it all in the MLflow UI: make ui  (http://127.0.0.1:5000)")
    print_sample(scored["path"])


def print_sample(path: str, n: int = 5) -> None:
    """The first customers of the call list, as a retention team reads them."""
    scores = pd.read_parquet(path).sort_values("probability", ascending=False).head(n)
    print(f"\n  top {n} customers of {path}:")
    for row in scores.itertuples():
        reasons = "; ".join(
            str(text) for k in (1, 2, 3) if pd.notna(text := getattr(row, f"reason_{k}", None))
        )
        print(f"  {row.customer_id} p={row.probability:.2f} {row.tier} -> {row.action}: {reasons}")


if __name__ == "__main__":
    main()
