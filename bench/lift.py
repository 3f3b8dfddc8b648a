"""Does the lift analysis recover the simulator's true effect? Interval coverage and A/A rate.

Usage: python bench/lift.py [seeds] [aa_seeds]   (defaults 50 and 200)
Each seed simulates a small population with a randomised intervention (treated customers
leave disengagement for churn at a third of the rate from the date on), measures 30-day
retention after assignment and estimates the lift. Printed: the share of seeds whose 95%
interval holds the true average effect (the mean oracle difference over assigned
customers), raw (Newcombe) and CUPED, with the mean interval width; then, with no effect
(factor 1), the share of seeds rejecting at alpha 0.05; then a 60/40 split tested
against a planned 50/50 (how often the sample-ratio check flags it).
"""

import sys
import time

import numpy as np
from scipy import stats

from behaviorlab.analysis import lift
from behaviorlab.analysis.outcomes import measure_outcomes
from behaviorlab.data.simulator import simulate

SIZE = {"n_customers": 4000, "start": "2024-01-01", "end": "2024-06-01"}
EFFECT = {"date": "2024-04-15", "target": "churn", "factor": 0.3, "days": 30}


def run_seed(seed: int, intervention: dict) -> dict:
    """Simulate one experiment and compare the estimates with the truth."""
    sim = simulate(seed=seed, intervention=intervention, **SIZE)
    outcomes = measure_outcomes(sim.events, sim.assignments, "retention", intervention["days"])
    raw = lift.estimate_lift(outcomes, "treatment", "control", True)
    cuped, _ = lift.estimate_cuped_lift(
        outcomes, "treatment", "control", covariate="pre_active_days"
    )
    truth = sim.summary["true_effect"]
    sizes = outcomes["group"].value_counts()
    return {
        "truth": truth,
        "raw_covers": raw["lift_low"] <= truth <= raw["lift_high"],
        "cuped_covers": cuped["lift_low"] <= truth <= cuped["lift_high"],
        "raw_width": raw["lift_high"] - raw["lift_low"],
        "cuped_width": cuped["lift_high"] - cuped["lift_low"],
        "raw_rejects": raw["p_value"] < 0.05,
        "cuped_rejects": cuped["p_value"] < 0.05,
        "srm_flagged": lift.check_sample_ratio(sizes.to_dict(), {"treatment": 0.5, "control": 0.5})[
            "flagged"
        ].iloc[0],
    }


def share_interval(hits: int, n: int) -> str:
    """A share with its exact (Clopper-Pearson) 95% interval."""
    low = stats.beta.ppf(0.025, hits, n - hits + 1) if hits else 0.0
    high = stats.beta.ppf(0.975, hits + 1, n - hits) if hits < n else 1.0
    return f"{hits / n:.1%} ({hits}/{n}; 95% CI {low:.1%} to {high:.1%})"


def main(seeds: int, aa_seeds: int) -> None:
    started = time.perf_counter()
    runs = [run_seed(seed, EFFECT) for seed in range(seeds)]
    truth = np.array([run["truth"] for run in runs])
    print(f"effect: {EFFECT}; sizes {SIZE}")
    print(f"true effect on 30-day retention: mean {100 * truth.mean():+.2f} points")
    for method in ("raw", "cuped"):
        covered = sum(run[f"{method}_covers"] for run in runs)
        width = np.mean([run[f"{method}_width"] for run in runs])
        power = sum(run[f"{method}_rejects"] for run in runs)
        print(
            f"{method:>5}: coverage {share_interval(covered, seeds)}, "
            f"mean width {100 * width:.2f} points, rejected {power}/{seeds}"
        )
    aa = [run_seed(1000 + seed, {**EFFECT, "factor": 1.0}) for seed in range(aa_seeds)]
    for method in ("raw", "cuped"):
        rejected = sum(run[f"{method}_rejects"] for run in aa)
        print(f"A/A {method:>5}: rejected at alpha 0.05 in {share_interval(rejected, aa_seeds)}")
    flagged = sum(run["srm_flagged"] for run in aa)
    print(f"A/A sample-ratio check flagged {share_interval(flagged, aa_seeds)} (alpha 0.001)")
    broken = [run_seed(2000 + seed, {**EFFECT, "share": 0.6}) for seed in range(10)]
    caught = sum(run["srm_flagged"] for run in broken)
    print(f"60/40 split against a planned 50/50: flagged in {caught}/10 seeds")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    main(*(arguments + [50, 200][len(arguments) :]))
