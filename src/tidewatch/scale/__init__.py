"""The detect and link stages as Apache Spark jobs, for data that outgrows one machine.

* :mod:`tidewatch.scale.scan`: the same readers and detector as ``tidewatch scan``, per
  partition through ``mapInArrow``; detections as Parquet partitioned by date and platform.
* :mod:`tidewatch.scale.link`: template clusters, selector edges and networks, equal to
  ``tidewatch link`` on the same posts and detections.
* :mod:`tidewatch.scale.home`: the jobs' Parquet back into the Tidewatch database.
* :mod:`tidewatch.scale.submit`: the ``spark-submit`` entry point.

PySpark is an optional extra (``pip install 'tidewatch[scale]'``); nothing outside this
package imports it. See docs/scale.md.
"""
