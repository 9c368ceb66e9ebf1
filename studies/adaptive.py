"""The adaptive MVT study kind: MVT trials asked in batches where each image's MVT is still uncertain.

Its trials, pages, load and simulated answers are the MVT kind's (`studies.mvt`); what differs is
its command (``mvt next-batch``, `studies.mvt_adaptive`) and its analysis
(`analysis.adaptive_analysis`: the posterior MVT with a credible interval and model-based
screening instead of the fixed design's rules). A ``design.json`` written by ``mvt build …
--adaptive`` (it has ``adaptive``) is of this kind (`studies.kind_of`).
"""

from __future__ import annotations

from studies.mvt import MVTKind


class AdaptiveMVTKind(MVTKind):
    """Adaptive MVT: the MVT task, asked in batches planned from each image's posterior."""

    name = "mvt-adaptive"
    title = "MVT recognition, adaptive"

    @staticmethod
    def describes(design: dict) -> bool:
        """Whether ``design.json`` is an adaptive study's (``mvt build … --adaptive`` writes ``adaptive``)."""
        return "adaptive" in design

    def register_commands(self, cli) -> None:
        """``mvt next-batch`` (the first batch is ``mvt build … --adaptive``, the MVT kind's command)."""
        from studies import mvt_adaptive

        mvt_adaptive.register(cli)

    def analyze(self, request) -> list[str]:
        """The posterior MVT of every image and model-based screening (`analysis.adaptive_analysis.run_adaptive`)."""
        from analysis.adaptive_analysis import run_adaptive

        return run_adaptive(request)
