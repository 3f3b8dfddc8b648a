"""A plain-pandas reference for a broad subset of the features (attributes as of the
cutoff included), and a random event log.

Written independently of the Ibis families (groupby and merge, one cutoff at a time) so
that agreement between the two is evidence that both compute what the names promise.
"""

import numpy as np
import pandas as pd

from behaviorlab.data.simulator.params import EVENTS

KEYS = ["customer_id", "cutoff"]
DAY = pd.Timedelta(days=1)
EVENT_TYPES = EVENTS  # the simulator's vocabulary
EVENT_WEIGHTS = (0.10, 0.30, 0.22, 0.08, 0.10, 0.06, 0.06, 0.01, 0.04, 0.03)


def random_event_log(
    n_customers: int, n_events: int, seed: int, start="2024-01-01", days: int = 540
) -> pd.DataFrame:
    """Bursty sessions over a vocabulary like the simulator's, with amounts on purchases."""
    rng = np.random.default_rng(seed)
    n_sessions = max(1, n_events // 4)
    activity = rng.lognormal(0.0, 1.0, n_customers)
    owner = rng.choice(n_customers, n_sessions, p=activity / activity.sum())
    session_start = rng.integers(0, days * 86_400, n_sessions)
    session_of = rng.integers(0, n_sessions, n_events)
    offset = rng.exponential(240.0, n_events).astype("int64")
    seconds = session_start[session_of] + offset
    event = rng.choice(np.array(EVENT_TYPES), n_events, p=EVENT_WEIGHTS)
    amount = np.where(event == "purchase", np.round(rng.gamma(2.0, 30.0, n_events), 2), np.nan)
    ids = np.char.add("c", np.char.zfill(owner[session_of].astype(str), 6))
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="str"),
            "timestamp": (
                np.datetime64(pd.Timestamp(start), "us") + seconds.astype("timedelta64[s]")
            ).astype("datetime64[us]"),
            "event": pd.array(event, dtype="str"),
            "amount": amount,
        }
    )
    return frame.sort_values(["timestamp", "customer_id"], ignore_index=True)


def before_cutoff(events: pd.DataFrame, snapshots: pd.DataFrame) -> pd.DataFrame:
    """Events strictly before each snapshot's cutoff, with the cutoff attached."""
    joined = snapshots.merge(events, on="customer_id", how="inner")
    joined = joined[joined["timestamp"] < joined["cutoff"]]
    return joined.assign(age=joined["cutoff"] - joined["timestamp"])


def rfm(pit: pd.DataFrame, purchase_events: list[str]) -> pd.DataFrame:
    """Recency, frequency, BG/NBD recency, T, tenure, purchase days and spend."""
    bought = pit[pit["event"].isin(purchase_events)].assign(
        day=lambda f: f["timestamp"].dt.floor("D")
    )
    g = bought.groupby(KEYS)
    out = pd.DataFrame(
        {
            "first_day": g["day"].min(),
            "last_day": g["day"].max(),
            "purchase_days": g["day"].nunique().astype("float64"),
            "monetary_total": g["amount"].sum(),
            "monetary_mean": g["amount"].mean(),
            "monetary_max": g["amount"].max(),
        }
    ).reset_index()
    cutoff = out["cutoff"]
    out["recency_days"] = (cutoff - out["last_day"]) / DAY
    out["frequency"] = out["purchase_days"] - 1
    out["bgnbd_recency_days"] = (out["last_day"] - out["first_day"]) / DAY
    out["t_days"] = (cutoff - out["first_day"]) / DAY
    tenure = pit.groupby(KEYS)["timestamp"].min().rename("first_event").reset_index()
    out = tenure.merge(out, on=KEYS, how="left")
    out["tenure_days"] = (out["cutoff"] - out["first_event"]) / DAY
    out["purchase_days"] = out["purchase_days"].fillna(0.0)
    out["monetary_total"] = out["monetary_total"].fillna(0.0)
    return out.drop(columns=["first_day", "last_day", "first_event"])


def bgnbd_inputs(pit: pd.DataFrame, purchase_events: list[str]) -> pd.DataFrame:
    """lifetimes' T (first purchase day to the last day before the cutoff) and the mean of
    the repeat purchase days' summed amounts (0 without a repeat day)."""
    bought = pit[pit["event"].isin(purchase_events)].assign(
        day=lambda f: f["timestamp"].dt.floor("D")
    )
    daily = bought.groupby([*KEYS, "day"], as_index=False)["amount"].sum()
    first = daily.groupby(KEYS)["day"].transform("min")
    last_day = (daily["cutoff"] - pd.Timedelta(microseconds=1)).dt.floor("D")
    daily = daily.assign(t=(last_day - first) / DAY, repeat=daily["day"] > first)
    g = daily.groupby(KEYS)
    repeat_mean = daily[daily["repeat"]].groupby(KEYS)["amount"].mean()
    out = pd.DataFrame({"bgnbd_t_days": g["t"].first()})
    out["monetary_repeat_mean"] = repeat_mean.reindex(out.index).fillna(0.0)
    return out.reset_index()


def clv_summary(pit: pd.DataFrame, purchase_events: list[str]) -> pd.DataFrame:
    """lifetimes' calibration summary per snapshot: frequency, recency, T, monetary_value."""
    bought = pit[pit["event"].isin(purchase_events)]
    days = bought.assign(day=bought["timestamp"].dt.floor("D")).groupby(KEYS)["day"]
    out = pd.DataFrame(
        {
            "frequency": (days.nunique() - 1).astype("float64"),
            "recency": (days.max() - days.min()) / DAY,
        }
    ).reset_index()
    spend = bgnbd_inputs(pit, purchase_events).rename(
        columns={"bgnbd_t_days": "T", "monetary_repeat_mean": "monetary_value"}
    )
    return out.merge(spend, on=KEYS)


def clv(events: pd.DataFrame, cutoffs: pd.Series, p: dict) -> pd.DataFrame:
    """The clv family cutoff by cutoff: the same models fitted on the summaries of every
    customer of the log at each cutoff (those without a purchase before it drop out)."""
    from behaviorlab.modeling.clv import TRANSACTIONS_MODELS, GammaGammaModel, score_clv

    everyone = pd.MultiIndex.from_product(
        [events["customer_id"].unique(), cutoffs.unique()], names=KEYS
    ).to_frame(index=False)
    pit = before_cutoff(events, everyone.astype({"cutoff": "datetime64[us]"}))
    horizon = p["horizon_days"]
    parts = []
    for _, summary in clv_summary(pit, p["purchase_events"]).groupby("cutoff"):
        summary = summary.sort_values("customer_id", ignore_index=True)
        if len(summary) < p["min_customers"]:
            continue
        model = TRANSACTIONS_MODELS[p["transactions_model"]](p["penalizer"]).fit(summary)
        spend = GammaGammaModel(p["spend_penalizer"]).fit(summary) if p["monetary"] else None
        scored = score_clv(
            summary,
            model,
            spend,
            horizon_days=horizon,
            months=p["months"],
            monthly_discount=p["monthly_discount"],
            margin=p["margin"],
        )
        names = {
            "expected_purchases": f"clv_expected_purchases_{horizon}d",
            "probability_alive": "clv_probability_alive",
            "expected_order_value": "clv_expected_order_value",
            "clv": "clv_value",
        }
        scored = scored.rename(columns=names).drop(columns="customer_id")
        if not p["monetary"]:
            scored = scored.drop(columns=["clv_expected_order_value", "clv_value"])
        parts.append(pd.concat([summary[KEYS], scored], axis=1))
    return pd.concat(parts, ignore_index=True) if parts else everyone.iloc[:0]


def activity(pit: pd.DataFrame, windows: list[int], event_types: list[str]) -> pd.DataFrame:
    """Counts per window and type, and active days, from boolean masks."""
    parts = []
    for w in windows:
        inside = pit[pit["age"] <= pd.Timedelta(days=w)]
        g = inside.assign(day=inside["timestamp"].dt.floor("D")).groupby(KEYS)
        part = pd.DataFrame(
            {f"count_events_{w}d": g.size(), f"active_days_{w}d": g["day"].nunique()}
        )
        per_type = inside.groupby([*KEYS, "event"]).size().unstack("event")
        for e in event_types:
            col = per_type[e] if e in per_type.columns else pd.Series(0, index=part.index)
            part[f"count_{e}_{w}d"] = col
        parts.append(part)
    return pd.concat(parts, axis=1).reset_index()


def trends(pit: pd.DataFrame, windows: list[int], weeks: int) -> pd.DataFrame:
    """Latest vs previous window, and a least-squares slope fitted per customer with numpy."""
    out = pit[KEYS].drop_duplicates().set_index(KEYS)
    for w in windows:
        latest = pit[pit["age"] <= pd.Timedelta(days=w)].groupby(KEYS).size()
        older = pit[(pit["age"] > pd.Timedelta(days=w)) & (pit["age"] <= pd.Timedelta(days=2 * w))]
        previous = older.groupby(KEYS).size()
        latest = latest.reindex(out.index, fill_value=0)
        previous = previous.reindex(out.index, fill_value=0)
        out[f"trend_diff_{w}d"] = (latest - previous).astype("float64")
        out[f"trend_ratio_{w}d"] = (latest / previous.where(previous > 0)).astype("float64")
    recent = pit[pit["age"] <= pd.Timedelta(days=7 * weeks)]
    week = (weeks - 1) - (recent["age"] - pd.Timedelta(microseconds=1)) // pd.Timedelta(days=7)
    counts = recent.assign(week=week).groupby([*KEYS, "week"]).size().unstack("week")
    counts = counts.reindex(columns=range(weeks), fill_value=0).fillna(0)
    counts = counts.reindex(out.index, fill_value=0)
    slope = np.polyfit(np.arange(weeks), counts.to_numpy().T, 1)[0]
    out[f"activity_slope_{weeks}w"] = slope
    return out.reset_index()


def gaps(pit: pd.DataFrame, purchase_events: list[str]) -> pd.DataFrame:
    """Gap statistics between events and between purchase days (days, sample std)."""
    ordered = pit.sort_values([*KEYS, "timestamp"])
    gap = ordered.groupby(KEYS)["timestamp"].diff() / DAY
    g = gap.groupby([ordered["customer_id"], ordered["cutoff"]])
    out = pd.DataFrame(
        {"gap_mean_days": g.mean(), "gap_std_days": g.std(), "gap_max_days": g.max()}
    )
    days = pit[pit["event"].isin(purchase_events)].assign(
        timestamp=lambda f: f["timestamp"].dt.floor("D")
    )
    days = days[[*KEYS, "timestamp"]].drop_duplicates().sort_values([*KEYS, "timestamp"])
    pgap = days.groupby(KEYS)["timestamp"].diff() / DAY
    pg = pgap.groupby([days["customer_id"], days["cutoff"]])
    purchases = pd.DataFrame(
        {
            "purchase_gap_mean_days": pg.mean(),
            "purchase_gap_std_days": pg.std(),
            "purchase_gap_max_days": pg.max(),
        }
    )
    return out.join(purchases, how="left").reset_index()


def shares(pit: pd.DataFrame, key_events: list[str]) -> pd.DataFrame:
    """Days since key events, hour-bucket and weekend shares."""
    hour = pit["timestamp"].dt.hour
    flags = pd.DataFrame(
        {
            "share_night": hour < 6,
            "share_morning": (hour >= 6) & (hour < 12),
            "share_afternoon": (hour >= 12) & (hour < 18),
            "share_evening": hour >= 18,
            "share_weekend": pit["timestamp"].dt.dayofweek >= 5,
        }
    ).astype("float64")
    out = flags.groupby([pit["customer_id"], pit["cutoff"]]).mean()
    for e in key_events:
        since = pit[pit["event"] == e].groupby(KEYS)["age"].min() / DAY
        out[f"days_since_{e}"] = since
    return out.reset_index()


def starts_session(gap: pd.Series, gap_minutes: float) -> pd.Series:
    """An event starts a session when it is the first or follows more than ``gap_minutes``."""
    return gap.isna() | (gap > pd.Timedelta(minutes=gap_minutes))


def sessions(pit: pd.DataFrame, gap_minutes: float) -> pd.DataFrame:
    """Inferred sessions: split on gaps longer than the threshold, then per-session spans."""
    ordered = pit.sort_values([*KEYS, "timestamp"])
    gap = ordered.groupby(KEYS)["timestamp"].diff()
    starts = starts_session(gap, gap_minutes)
    session = starts.groupby([ordered["customer_id"], ordered["cutoff"]]).cumsum()
    spans = ordered.assign(session=session).groupby([*KEYS, "session"])["timestamp"]
    per_session = pd.DataFrame(
        {"length": (spans.max() - spans.min()) / pd.Timedelta(minutes=1), "n": spans.size()}
    ).reset_index()
    g = per_session.groupby(KEYS)
    return pd.DataFrame(
        {
            "session_count": g.size().astype("float64"),
            "session_duration_mean_min": g["length"].mean(),
            "events_per_session": g["n"].mean(),
        }
    ).reset_index()


def diversity(pit: pd.DataFrame) -> pd.DataFrame:
    """Distinct event types and the entropy (nats) of the mix."""
    counts = pit.groupby([*KEYS, "event"]).size().rename("c").reset_index()
    counts["p"] = counts["c"] / counts.groupby(KEYS)["c"].transform("sum")
    counts["h"] = -counts["p"] * np.log(counts["p"])
    g = counts.groupby(KEYS)
    return pd.DataFrame(
        {"distinct_event_types": g.size().astype("float64"), "event_entropy": g["h"].sum()}
    ).reset_index()


def funnel(pit: pd.DataFrame, steps: list[list[str]], windows: list[int]) -> pd.DataFrame:
    """Furthest step per window (0 when no funnel event)."""
    step_of = {name: i for i, names in enumerate(steps, start=1) for name in names}
    step = pit["event"].map(step_of).fillna(0)
    out = pit[KEYS].drop_duplicates().set_index(KEYS)
    for w in windows:
        inside = pit["age"] <= pd.Timedelta(days=w)
        depth = (
            step[inside].groupby([pit.loc[inside, "customer_id"], pit.loc[inside, "cutoff"]]).max()
        )
        out[f"funnel_depth_{w}d"] = depth.reindex(out.index).fillna(0).astype("float64")
    return out.reset_index()


def session_start_ages(ordered: pd.DataFrame, gap: pd.Series, p: dict) -> pd.DataFrame:
    """The age of each session start: an event after more than ``gap_minutes`` (or the
    first), or a given session's first event."""
    if p["session_source"] == "gap":
        return ordered.loc[starts_session(gap, p["gap_minutes"]), [*KEYS, "age"]]
    known = ordered[ordered["session_id"].notna()]
    return known.groupby([*KEYS, "session_id"], as_index=False)["age"].max()


def session_rhythm(start_age: pd.DataFrame) -> pd.DataFrame:
    """Gaps between consecutive session starts: median, last, longest, current silence over
    the median."""
    starts = start_age.sort_values([*KEYS, "age"], ascending=[True, True, False], kind="stable")
    gaps = (-starts.groupby(KEYS)["age"].diff() / DAY).groupby(
        [starts["customer_id"], starts["cutoff"]]
    )
    out = pd.DataFrame(
        {
            "session_gap_median_days": gaps.median(),
            "session_gap_last_days": gaps.last(),  # the newest start's gap (0 after a tie)
            "session_gap_max_days": gaps.max(),
        }
    )
    newest = starts.groupby(KEYS)["age"].min() / DAY
    median = out["session_gap_median_days"].where(out["session_gap_median_days"] > 0)
    out["silence_in_session_gaps"] = newest / median
    return out


def disengagement(pit: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Days since the last event, decayed counts (0.5 ** (age / half-life)), and the rhythm
    and recency of session starts, from a per-customer sort and diffs."""
    ordered = pit.sort_values([*KEYS, "timestamp"], kind="stable")
    by = [ordered["customer_id"], ordered["cutoff"]]
    gap = ordered.groupby(KEYS)["timestamp"].diff()
    age_days = ordered["age"] / DAY
    out = pd.DataFrame({"days_since_last_event": age_days.groupby(by).min()})
    bought = ordered["event"].isin(p["purchase_events"]) if p["purchases"] else None
    for h in p["half_lives"]:
        weight = 0.5 ** (age_days / h)
        out[f"decayed_events_hl{h}d"] = weight.groupby(by).sum()
        if bought is not None and p["purchase_events"]:
            out[f"decayed_purchases_hl{h}d"] = weight.where(bought, 0.0).groupby(by).sum()
    start_age = session_start_ages(ordered, gap, p) if p["gaps"] or p["sessions"] else None
    if p["gaps"]:
        out = out.join(session_rhythm(start_age))
    if p["sessions"]:
        g = start_age.groupby(KEYS)["age"]
        out["days_since_session_start"] = g.min() / DAY
        for w in p["session_windows"]:
            inside = start_age["age"] <= pd.Timedelta(days=w)
            out[f"session_count_{w}d"] = inside.groupby(
                [start_age["customer_id"], start_age["cutoff"]]
            ).sum()
    return out.rename_axis(KEYS).reset_index()


def reference_features(events: pd.DataFrame, snapshots: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The reference subset for a resolved spec, one row per snapshot (left join)."""
    pit = before_cutoff(events, snapshots)
    purchases = spec["purchase_events"]
    rfm_params = spec["rfm"]
    optional = [bgnbd_inputs(pit, purchases)] if rfm_params.get("bgnbd") else []
    if optional and not rfm_params.get("monetary"):
        optional = [optional[0].drop(columns="monetary_repeat_mean")]
    if spec.get("clv", {}).get("enabled"):
        optional.append(clv(events, snapshots["cutoff"], spec["clv"]))
    parts = [
        rfm(pit, purchases),
        *optional,
        activity(pit, spec["activity"]["windows"], spec["activity"]["event_types"]),
        trends(pit, spec["trends"]["windows"], spec["trends"]["slope_weeks"]),
        gaps(pit, purchases),
        shares(pit, spec["timing"]["key_events"]),
        sessions(pit, spec["sessions"]["gap_minutes"]),
        diversity(pit),
        funnel(pit, spec["funnel"]["steps"], spec["funnel"]["windows"]),
    ]
    if spec.get("disengagement", {}).get("enabled"):
        parts.append(disengagement(pit, spec["disengagement"]))
    out = snapshots[KEYS].reset_index(drop=True)
    for part in parts:
        out = out.merge(part, on=KEYS, how="left")
    zero = [c for c in out.columns if c.startswith(("count_", "active_days_", "funnel_depth_"))]
    zero += ["purchase_days", "monetary_total", "session_count", "distinct_event_types"]
    zero += [c for c in out.columns if c.startswith(("trend_diff_", "activity_slope_"))]
    zero += [c for c in out.columns if c.startswith(("decayed_", "session_count_"))]
    out[zero] = out[zero].fillna(0.0)
    return out.astype({c: "float64" for c in out.columns if c not in KEYS})


def reference_event_attributes(
    events: pd.DataFrame, snapshots: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
    """Per snapshot, each column's first non-null value among the customer's events before
    the cutoff (ties at one instant: the smallest value), computed cutoff by cutoff."""
    out = snapshots[KEYS].reset_index(drop=True)
    pit = before_cutoff(events, snapshots)
    for name in names:
        known = pit[pit[name].notna()].sort_values([*KEYS, "timestamp", name], kind="stable")
        first = known.groupby(KEYS, as_index=False)[name].first()
        out = out.merge(first, on=KEYS, how="left")
    return out


def reference_table_attributes(
    customers: pd.DataFrame, snapshots: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
    """Per snapshot, the customer row valid at the cutoff (valid_from <= cutoff < valid_to;
    without valid_to a row lasts until the next one), or the only row of a static table."""
    out = snapshots[KEYS].reset_index(drop=True)
    timed = "valid_from" in customers
    rows = customers
    if timed and "valid_to" not in rows:
        rows = rows.sort_values(["customer_id", "valid_from"])
        rows = rows.assign(valid_to=rows.groupby("customer_id")["valid_from"].shift(-1))
    joined = out.reset_index().merge(rows, on="customer_id")
    if timed:
        cutoff = joined["cutoff"]
        joined = joined[(joined["valid_from"] <= cutoff) & ~(joined["valid_to"] <= cutoff)]
    return out.join(joined.set_index("index")[names])
