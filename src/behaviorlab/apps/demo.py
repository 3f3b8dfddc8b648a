"""The demo: simulate built-in data, then run every app on it and say what was produced."""

from hydra import compose, initialize_config_dir

from behaviorlab.apps import simulate
from behaviorlab.apps.common import CONF_DIR, to_plain
from behaviorlab.data.sources import load_dataset


def compose_app(config_name: str, overrides: list[str] | None = None):
    """Compose an app's config exactly as its command line would."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="demo"):
        return compose(config_name=config_name, overrides=overrides or [])


def main() -> None:
    """Run the chain on the demo data and print a summary."""
    simulated = simulate.run(compose_app("simulate"))
    dataset = load_dataset(to_plain(compose_app("train").data))
    print()
    print("behaviorlab demo summary")
    print(f"  data: {simulated}")
    print(
        f"  validated {len(dataset.events):,} events of {dataset.events['customer_id'].nunique():,}"
        f" customers ({dataset.data_start:%Y-%m-%d}..{dataset.data_end:%Y-%m-%d}),"
        f" fingerprint {dataset.fingerprint[:12]}"
    )


if __name__ == "__main__":
    main()
