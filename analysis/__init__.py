"""MVT estimation, crowdMOS statistics, worker screening and reports (``mvt analyze``).

May import `app` (the store, export, admin actions for ``--replace``); never `platforms`,
which reads its screening results instead.

``mvt analyze`` (`analysis.commands`) runs `analysis.analyze.analyze` on the responses table
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
    the self-contained report (`analysis.report`);
``repost.csv``
    with ``--replace``: the links whose marked assignments need reposting.
"""
