"""The experiment page's charts from the day-by-day series, drawn once per distinct input.

matplotlib is most of a page's first render (a few hundred ms per chart), and most charts
do not change between two positions of the log (a stopped experiment's, or one that got no
new events): `Drawn` keeps the SVG of each distinct input and draws only new ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from domain.experiments.aggregate import Experiment
from infrastructure.charts import Band, Series, line_chart
from infrastructure.serve.dashboard.series import DailyLift, DailyTotals


class Drawn:
    """`line_chart` remembered by its arguments (the newest ``size`` distinct ones)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.svgs: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()
        self.drawn = 0  # charts matplotlib drew (the rest were remembered)

    def line_chart(self, *args: Any, **kwargs: Any) -> str:
        key = repr((args, sorted(kwargs.items())))
        with self.lock:
            if key in self.svgs:
                self.svgs.move_to_end(key)
                return self.svgs[key]
        svg = line_chart(*args, **kwargs)
        with self.lock:
            self.drawn += 1
            self.svgs[key] = svg
            while len(self.svgs) > self.size:
                self.svgs.popitem(last=False)
        return svg


class Yielding:
    """A `Drawn` waiting for ``pause`` before each chart (the background drawer's)."""

    def __init__(self, drawn: Drawn, pause: Callable[[], None]) -> None:
        self.drawn = drawn
        self.pause = pause

    def line_chart(self, *args: Any, **kwargs: Any) -> str:
        self.pause()
        return self.drawn.line_chart(*args, **kwargs)


def lift_charts(
    drawn: Drawn | Yielding,
    experiment: Experiment,
    totals: DailyTotals,
    lift: DailyLift,
    engine: str,
) -> dict[str, str]:
    """One cumulative-lift chart per treatment (ids ``lift-<variant>``)."""
    control = totals.variants[0] if totals.variants else "control"
    band = "approx. 95% interval" if totals.approximate_band else "95% interval"
    return {
        f"lift-{variant}": drawn.line_chart(
            f"lift-{variant}",
            f"Cumulative lift of {totals.primary}: {variant} vs {control} ({engine})",
            totals.days,
            [Series(f"{variant} vs {control}", lifts)],
            Band(band, lift.lower[variant], lift.upper[variant]),
            percent=True,
            zero_line=True,
            partial_last_day=totals.partial_last_day,
        )
        for variant, lifts in lift.lift.items()
    }


def traffic_charts(drawn: Drawn | Yielding, totals: DailyTotals) -> dict[str, str]:
    """Newly exposed users per day per variant, and the SRM p-value over time."""
    return {
        "exposures": drawn.line_chart(
            "exposures", "Newly exposed users per day", totals.days,
            [Series(v, values) for v, values in totals.exposed.items()],
            partial_last_day=totals.partial_last_day,
        ),
        "srm": drawn.line_chart(
            "srm", "SRM p-value over time (below 0.001: sample ratio mismatch)", totals.days,
            [Series("p-value", totals.srm_p)], partial_last_day=totals.partial_last_day,
        ),
    }  # fmt: skip
