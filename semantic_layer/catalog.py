"""What can be asked: the governed metrics with their labels, definitions, grains and dimensions.

Everything comes from the semantic manifest of the current load and from what MetricFlow reports as the group-by
items of each metric; the only data kept here is which of MetricFlow's dimensions the query model exposes, under
which short names (`DIMENSIONS`). Names typed by people resolve by name or label; a wrong one gets the nearest ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rapidfuzz import fuzz, process

from semantic_layer.errors import InvalidInputError, UnknownMetricError


class Grain(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


GRAIN_ORDER: tuple[Grain, ...] = (Grain.DAY, Grain.WEEK, Grain.MONTH, Grain.QUARTER, Grain.YEAR)


class ValueKind(StrEnum):
    MONEY = "money"  # Decimal, cents, EUR
    COUNT = "count"  # int
    PERCENT = "percent"  # Decimal, one decimal
    TIME = "time"  # date: first day of the period bucket
    CATEGORY = "category"  # str
    ID = "id"  # int


@dataclass(frozen=True)
class DimensionSpec:
    """A dimension the query model exposes: its short name, label, MetricFlow names in order of preference (the
    first one MetricFlow reports for every metric of a query is used) and the kind of its values."""

    key: str
    label: str
    candidates: tuple[str, ...]
    kind: ValueKind
    aliases: tuple[str, ...] = ()
    is_entity: bool = False


DIMENSIONS: tuple[DimensionSpec, ...] = (
    DimensionSpec("type", "transaction type", ("transaction__transaction_type",), ValueKind.CATEGORY,
                  ("transaction_type", "transaction type", "types")),
    # the tier at each month end where the metric has it (customers per tier), else the customer's current tier
    DimensionSpec("tier", "tier", ("customer_tier_month__tier", "customer__tier"), ValueKind.CATEGORY, ("tiers",)),
    DimensionSpec("country", "country", ("customer__country_code",), ValueKind.CATEGORY,
                  ("country_code", "countries")),
    DimensionSpec("account_type", "account type", ("account__account_type",), ValueKind.CATEGORY,
                  ("account types",)),
    DimensionSpec("account_status", "account status", ("account__account_status",), ValueKind.CATEGORY,
                  ("status",)),
    DimensionSpec("customer", "customer", ("customer",), ValueKind.ID, ("customer_id", "customers"), True),
    DimensionSpec("customer_name", "customer name", ("customer__full_name",), ValueKind.CATEGORY, ("name",)),
    DimensionSpec("account", "account", ("account",), ValueKind.ID, ("account_id", "accounts"), True),
)
DIMENSION_BY_KEY = {d.key: d for d in DIMENSIONS}

# Plain date columns equal to a model's metric_time (day, or month start): a period filter on one reaches the table
# scan, where one on metric_time goes through date_trunc (see the semantic models' comments). Else metric_time.
PERIOD_COLUMNS: tuple[tuple[str, Grain], ...] = (
    ("transaction__booked_day", Grain.DAY),
    ("customer_month__month_first_day", Grain.MONTH),
    ("customer_tier_month__month_first_day", Grain.MONTH),
)

# metrics whose definition says to ask them by month only (beyond what MetricFlow itself allows)
_MONTH_ONLY = frozenset({"tier_customers_by_month"})


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    description: str
    kind: ValueKind
    grains: tuple[Grain, ...]
    dimensions: tuple[str, ...]  # keys of DIMENSIONS, in their order
    additive: bool  # a sum over rows: its value splits exactly by any dimension (what `why` decomposes)
    group_by_items: frozenset[str]  # what MetricFlow reports (dimension dunder names and entities)
    needs_time: bool = False  # compares with an earlier period: only asked along the time axis
    synonyms: tuple[str, ...] = ()  # governed business words for it (`config.meta.synonyms` in the dbt YAML)
    # the generic questions it is the governed answer to (`config.meta.default_for`: "money held now", "count of
    # customers"…): the plain-English reader asks the catalog for these instead of naming metrics
    default_for: tuple[str, ...] = ()

    @property
    def one_line(self) -> str:
        first = self.description.split(". ")[0].rstrip(".")
        return first if len(first) <= 160 else first[:159] + "…"


@dataclass(frozen=True)
class DimensionWords:
    """Governed vocabulary of a dimension, from `config.meta` of its dimensions in the dbt YAML: other words for
    the dimension (`synonyms`), other words for some of its values (`value_synonyms`: value -> words), and whether
    its raw values are words people use on their own (`match_raw_values: false` for values such as `current`)."""

    synonyms: tuple[str, ...] = ()
    value_synonyms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    match_raw_values: bool = True


class Catalog:
    """The metrics of one load (build with `Catalog.of(engine)`; cached per load id)."""

    def __init__(self, load_id: str, metrics: dict[str, MetricInfo],
                 dimension_words: dict[str, DimensionWords] | None = None) -> None:
        self.load_id = load_id
        self.metrics = metrics
        self.dimension_words = dimension_words or {}

    @classmethod
    def from_manifest(cls, load_id: str, manifest: Any, mf_engine: Any) -> Catalog:
        measures = {measure.name: measure for model in manifest.semantic_models for measure in model.measures}
        infos: dict[str, MetricInfo] = {}
        for metric in manifest.metrics:
            items = _group_by_items(mf_engine, metric.name)
            metric_type = str(getattr(metric.type, "value", metric.type))
            measure = measures.get(metric.type_params.measure.name) if metric.type_params.measure else None
            agg = str(getattr(measure.agg, "value", measure.agg)) if measure is not None else ""
            if metric_type == "derived":
                kind = ValueKind.PERCENT
            elif agg == "count_distinct" or _counts_rows(measure):
                kind = ValueKind.COUNT
            else:
                kind = ValueKind.MONEY
            infos[metric.name] = MetricInfo(
                name=metric.name,
                label=metric.label or metric.name,
                description=" ".join((metric.description or "").split()),
                kind=kind,
                grains=_grains(metric, items, metric_type),
                dimensions=tuple(d.key for d in DIMENSIONS if any(c in items for c in d.candidates)),
                additive=metric_type == "simple" and agg == "sum",
                group_by_items=frozenset(items),
                needs_time=metric_type == "derived" and any(
                    ref.offset_window is not None for ref in (metric.type_params.metrics or ())),
                synonyms=tuple(str(w) for w in _meta(metric).get("synonyms") or ()),
                default_for=tuple(str(w) for w in _meta(metric).get("default_for") or ()),
            )
        return cls(load_id, infos, _dimension_words(manifest))

    # -- names ------------------------------------------------------------------------------------------------
    def default_for(self, question: str) -> str | None:
        """The metric the dbt YAML names as the answer to a generic question (`config.meta.default_for`), or None
        when none does (then the reader offers nothing for it)."""
        found = [name for name, info in self.metrics.items() if question in info.default_for]
        return found[0] if len(found) == 1 else None

    def resolve_metric(self, text: str, allowed: Iterable[str] | None = None) -> str:
        """A metric name from its name or label (any case; spaces for underscores), among every governed metric (a
        forbidden one is refused by the policy, with what may be asked instead). Raises UnknownMetricError that
        names the nearest metrics among `allowed` (default: all)."""
        pool = sorted(self.metrics if allowed is None else allowed)
        wanted = _norm(text)
        for name in self.metrics:
            info = self.metrics[name]
            if wanted in (_norm(name), _norm(info.label)):
                return name
        labels = {f"{name} ({self.metrics[name].label})": name for name in pool}
        near = nearest(text, list(labels) + pool, limit=3)
        names = list(dict.fromkeys(labels.get(n, n) for n in near))
        hint = f" Did you mean {_or(names)}?" if names else ""
        raise UnknownMetricError(f"“{_short(text)}” is not a metric you can ask.{hint} `/finefin metrics` lists them.")

    @staticmethod
    def resolve_dimension(text: str, allowed: Sequence[str]) -> str:
        """A dimension key from its key, label or alias. Raises InvalidInputError naming the nearest allowed ones."""
        wanted = _norm(text)
        for spec in DIMENSIONS:
            if wanted in {_norm(spec.key), _norm(spec.label), *(_norm(a) for a in spec.aliases)}:
                return spec.key
        near = nearest(text, list(allowed), limit=3)
        hint = f" Did you mean {_or(near)}?" if near else ""
        raise InvalidInputError(f"“{_short(text)}” is not a dimension you can use here. You can use: "
                                f"{', '.join(allowed) or 'none'}.{hint}")

    def dimensions_of(self, metrics: Sequence[str]) -> tuple[str, ...]:
        """Dimension keys every one of `metrics` can be grouped by."""
        return tuple(d.key for d in DIMENSIONS if self.mf_name(d.key, metrics) is not None)

    def mf_name(self, dimension: str, metrics: Sequence[str]) -> str | None:
        """The MetricFlow group-by name of a dimension for all `metrics`, or None when one of them lacks it."""
        spec = DIMENSION_BY_KEY[dimension]
        for candidate in spec.candidates:
            if all(candidate in self.metrics[m].group_by_items for m in metrics):
                return candidate
        return None

    def period_column(self, metrics: Sequence[str]) -> tuple[str, Grain] | None:
        """The plain date column every one of `metrics` is timed by (PERIOD_COLUMNS), or None."""
        for name, grain in PERIOD_COLUMNS:
            if all(name in self.metrics[m].group_by_items and self.metrics[m].grains[:1] == (grain,)
                   for m in metrics):
                return name, grain
        return None

    def grains_of(self, metrics: Sequence[str]) -> tuple[Grain, ...]:
        common = set(GRAIN_ORDER)
        for m in metrics:
            common &= set(self.metrics[m].grains)
        return tuple(g for g in GRAIN_ORDER if g in common)


_CACHE: dict[int, Catalog] = {}
_LOCK = threading.Lock()


def catalog_of(engine: Any) -> Catalog:
    """The catalog of the engine's current load (built once per load: MetricFlow's answers are per manifest)."""
    load_id = engine.load_id
    cached = _CACHE.get(id(engine))
    if cached is not None and cached.load_id == load_id:
        return cached
    with _LOCK:
        built = Catalog.from_manifest(load_id, engine.manifest, engine.metricflow)
        _CACHE[id(engine)] = built
        return built


def _meta(node: Any) -> dict[str, Any]:
    config = getattr(node, "config", None)
    meta = getattr(config, "meta", None) if config is not None else None
    return dict(meta) if isinstance(meta, dict) else {}


def _dimension_words(manifest: Any) -> dict[str, DimensionWords]:
    """The governed words of each exposed dimension (merged over the semantic models that carry it)."""
    found: dict[str, dict[str, Any]] = {}
    for model in manifest.semantic_models:
        primary = next((e.name for e in model.entities if str(getattr(e.type, "value", e.type)) == "primary"), None)
        for dimension in model.dimensions:
            meta = _meta(dimension)
            if not meta or primary is None:
                continue
            dunder = f"{primary}__{dimension.name}"
            for spec in DIMENSIONS:
                if dunder in spec.candidates:
                    into = found.setdefault(spec.key, {"synonyms": {}, "values": {}, "raw": True})
                    into["synonyms"].update(dict.fromkeys(str(w) for w in meta.get("synonyms") or ()))
                    for value, words in (meta.get("value_synonyms") or {}).items():
                        into["values"].setdefault(str(value), {}).update(dict.fromkeys(str(w) for w in words))
                    if meta.get("match_raw_values") is False:
                        into["raw"] = False
    return {key: DimensionWords(tuple(f["synonyms"]), tuple((v, tuple(w)) for v, w in f["values"].items()),
                                f["raw"]) for key, f in found.items()}


def _group_by_items(mf_engine: Any, metric: str) -> set[str]:
    items = {d.dunder_name for d in mf_engine.simple_dimensions_for_metrics([metric])}
    items |= {e.name for e in mf_engine.entities_for_metrics([metric])}
    return items


def _grains(metric: Any, items: set[str], metric_type: str) -> tuple[Grain, ...]:
    finest = next((i for i, g in enumerate(GRAIN_ORDER) if f"metric_time__{g.value}" in items), None)
    if finest is None:
        return ()
    grains = GRAIN_ORDER[finest:]
    offsets = [ref.offset_window for ref in (metric.type_params.metrics or ()) if ref.offset_window is not None]
    if (metric_type == "derived" and offsets) or metric.name in _MONTH_ONLY:
        return (Grain.MONTH,) if Grain.MONTH in grains else ()
    return grains


def _counts_rows(measure: Any) -> bool:
    """A measure that adds 1 per row (or 1 per row matching a condition): a count, not money."""
    expr = " ".join((getattr(measure, "expr", None) or "").lower().split())
    return expr == "1" or (expr.startswith("case when") and expr.endswith("then 1 else 0 end"))


def nearest(text: str, choices: Sequence[str], limit: int = 3, cutoff: float = 55) -> list[str]:
    """The closest choices to `text` (rapidfuzz WRatio), best first."""
    if not choices or not text.strip():
        return []
    found = process.extract(text.strip().lower()[:80], [c.lower() for c in choices], scorer=fuzz.WRatio,
                            limit=limit, score_cutoff=cutoff)
    return [choices[index] for _, _, index in found]


def _norm(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _or(names: Sequence[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
