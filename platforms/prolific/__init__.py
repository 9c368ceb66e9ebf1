"""Prolific: participants arrive with ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID`` at
``/prolific``; the server places them on a link (`app.placement`) and sends them back to
Prolific's completion URL with the study's completion code at the end."""
