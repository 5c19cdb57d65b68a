"""A SparkSession set up the way the jobs need it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_session(
    master: str | None = None, app_name: str = "tidewatch", conf: dict[str, str] | None = None
) -> SparkSession:
    """The active session, or a new one. ``master`` None leaves it to spark-submit.

    Python workers run the interpreter running this, unless PYSPARK_PYTHON says otherwise:
    a worker started from another Python lacks pyarrow and Tidewatch (STACK.md). Times are
    UTC so a post's date partition does not depend on the machine's zone.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master and master.startswith("local"):
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # No broadcast joins: the link job joins large frames whose size Spark underestimates
        # after a checkpoint, and broadcasting one ran the driver's default 1 GiB heap out at
        # 100,000 posts (bench/scale.py). Shuffle joins scale; --conf can set it back.
        "spark.sql.autoBroadcastJoinThreshold": "-1",
        # Local runs: a small shuffle suits a laptop; clusters set their own.
        **({"spark.sql.shuffle.partitions": "8"} if master and master.startswith("local") else {}),
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
