"""One local Spark session for the whole test session (the Spark tests live in one file, so
under ``--dist loadfile`` only one worker starts it)."""

import os
import shutil

import pytest

SPARK_TEST_ENGINE = {
    "kind": "spark",
    "master": "local[2]",
    "app_name": "behaviorlab-tests",
    "conf": {
        "spark.sql.shuffle.partitions": 2,
        "spark.default.parallelism": 2,
        "spark.driver.memory": "1g",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
    },
}


def spark_missing() -> str | None:
    """Why Spark cannot start here (no Java, no PySpark), or None."""
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Spark needs Java 17: no java on PATH and no JAVA_HOME"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install -c constraints.txt -e '.[spark]'"
    return None


@pytest.fixture(scope="session")
def spark_engine():
    """A local[2] Spark session as an Ibis backend, stopped when the test session ends."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from behaviorlab.engines import connect_engine

    con = connect_engine(SPARK_TEST_ENGINE)
    yield con
    con.disconnect()
