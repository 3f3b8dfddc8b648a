"""behaviorlab-simulate: write simulated events, customers and truth as Parquet files."""

import hydra
from omegaconf import DictConfig, OmegaConf

from behaviorlab.apps.checks import SIMULATE_RULES, check_config
from behaviorlab.apps.common import CONF_DIR, entry_point, exit_on_user_error
from behaviorlab.apps.schemas import register_schemas
from behaviorlab.data.simulator import write_simulation


@exit_on_user_error
def run(cfg: DictConfig) -> dict:
    """Simulate from a composed config into ``cfg.out_dir``; return the summary."""
    check_config(cfg, SIMULATE_RULES)
    return write_simulation(
        out_dir=cfg.out_dir,
        n_customers=int(cfg.n_customers),
        seed=int(cfg.seed),
        start=str(cfg.start),
        end=str(cfg.end),
        oracle_cutoff=None if cfg.oracle_cutoff is None else str(cfg.oracle_cutoff),
        chunk_customers=int(cfg.chunk_customers),
        horizon_days=int(cfg.horizon_days),
        intervention=OmegaConf.to_container(cfg.intervention) if cfg.intervention else None,
    )


def format_summary(summary: dict) -> str:
    """A few lines saying what was written and the label rates against the oracle."""
    return "\n".join(
        [
            f"simulated {summary['events']:,} events of {summary['customers']:,} customers"
            f" ({summary['start']}..{summary['end']}) into {summary['out_dir']}",
            f"  by the end: {summary['churned_by_end']:.1%} churned,"
            f" {summary['converted_by_end']:.1%} converted",
            f"  at {summary['oracle_cutoff']} (+{summary['horizon_days']}d):"
            f" churn {summary['churn_label_rate']:.1%} of {summary['churn_eligible']:,} active"
            f" (oracle mean {summary['oracle_churn_mean']:.1%}),"
            f" conversion {summary['conversion_label_rate']:.1%}"
            f" of {summary['conversion_eligible']:,} (oracle mean"
            f" {summary['oracle_conversion_mean']:.1%})",
            *describe_intervention(summary),
        ]
    )


def describe_intervention(summary: dict) -> list[str]:
    """The experiment's line of the summary, when one was simulated."""
    if "assigned" not in summary:
        return []
    return [
        f"  experiment: {summary['treated']:,} of {summary['assigned']:,} assigned customers"
        f" treated; true effect on {summary['intervention_outcome']}"
        f" {100 * summary['true_effect']:+.2f} points"
        f" (on the treated {100 * summary['true_effect_on_treated']:+.2f})"
    ]


@entry_point
def main() -> None:
    """Console entry point: register the typed schemas, then let Hydra compose and run."""
    register_schemas()
    compose_and_run()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="simulate")
@exit_on_user_error
def compose_and_run(cfg: DictConfig) -> None:
    """Simulate with one composed config and print the summary."""
    print(format_summary(run(cfg)))


if __name__ == "__main__":
    main()
