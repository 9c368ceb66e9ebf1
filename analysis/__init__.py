"""MVT estimation, crowdMOS statistics, worker screening and reports (``mvt analyze``).

May import `app` (the store, export, admin actions for ``--replace``); never `platforms`,
which reads its screening results instead.

Policies (screening, control, intervals, durations as whole ms via `analysis.durations`) are
stated in ``docs/analysis.md``. ``mvt analyze`` (`analysis.commands`) runs `analysis.analyze.analyze` on the responses table
(`analysis.responses`, from Redis or a CSV) and writes:

``mvt.csv``
    one row per image (`analysis.mvt.MVT_COLUMNS` then ``p_mvt_f<frames>`` per duration and
    ``threshold_ms``): the MVT under the chosen rule (`analysis.rules`), its status, and the
    bootstrap distribution and 95 % interval (`analysis.bootstrap`);
``accuracy.csv``
    accuracy per duration, overall and per class, with crowdMOS intervals
    (`analysis.accuracy`, `analysis.crowdmos`);
``workers.csv``
    every worker's screening flags and reasons (`analysis.screening`);
``cells.csv``
    one row per (image, duration) with Wilson and Clopper-Pearson intervals
    (`analysis.intervals`);
``report.html``
    the self-contained report (`analysis.report`, Jinja2 template in ``analysis/templates``;
    figures in `analysis.figures`);
``worker_profiles.csv``, ``psychometric.csv``, ``rules.csv``, ``mvt_histogram.csv``, ``summary.csv``, ``progress.csv``, ``timing.csv``
    every other number the report shows (`analysis.analyze.OUTPUT_FILES`); with ``--draws``
    ``bootstrap_draws.csv``, with ``--by`` ``worker_profiles_by_group.csv``;
``repost.csv``
    with ``--replace``: the links whose marked assignments need reposting.
"""
