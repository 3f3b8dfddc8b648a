"""Activity time: a clock that runs fast in busy hours, so Poisson sessions follow the day.

Calendar time is measured in days since ``origin`` (a UTC midnight). Each customer lives
in local time (UTC plus the country's offset); activity time is the integral of an hourly
local profile (hour of day times weekday) whose weekly mean is 1. Events are homogeneous
in activity time, which keeps the oracle exact while timestamps get daily and weekly rhythm.
"""

from dataclasses import dataclass

import numpy as np

from behaviorlab.data.simulator import params

HOURS_PER_DAY = 24


@dataclass(frozen=True)
class Clock:
    """Piecewise-linear map between local calendar days and activity days."""

    origin: np.datetime64
    weight: np.ndarray
    cumulative: np.ndarray

    def to_activity(self, local_days: np.ndarray) -> np.ndarray:
        """Activity time at local calendar times (days since origin)."""
        hours = np.asarray(local_days, dtype=np.float64) * HOURS_PER_DAY
        hour = np.clip(np.floor(hours).astype(np.int64), 0, self.weight.size - 1)
        return self.cumulative[hour] + (hours - hour) * self.weight[hour] / HOURS_PER_DAY

    def to_local(self, activity: np.ndarray) -> np.ndarray:
        """Local calendar time (days since origin) at which activity time reaches ``activity``."""
        activity = np.asarray(activity, dtype=np.float64)
        hour = np.searchsorted(self.cumulative, activity, side="right") - 1
        hour = np.clip(hour, 0, self.weight.size - 1)
        within = (activity - self.cumulative[hour]) * HOURS_PER_DAY / self.weight[hour]
        return (hour + within) / HOURS_PER_DAY


def build_clock(origin: np.datetime64, n_days: int) -> Clock:
    """Hourly activity weights from ``origin`` for ``n_days`` days, weekly mean exactly 1."""
    weekly = params.WEEKDAY_PROFILE[:, None] * params.HOUR_PROFILE[None, :]
    weekly = weekly / weekly.mean()
    first_weekday = (origin.astype("datetime64[D]").astype(np.int64) + 3) % 7
    days = (first_weekday + np.arange(n_days)) % 7
    weight = weekly[days].ravel()
    cumulative = np.concatenate([[0.0], np.cumsum(weight) / HOURS_PER_DAY])
    return Clock(origin=origin, weight=weight, cumulative=cumulative)
