"""Readable definitions of metrics, straight from the semantic manifest (the one definition everyone reads)."""

from __future__ import annotations

from typing import Any

from semantic_layer.types import MetricDefinition

_AGG_WORDS = {"sum": "sum", "count_distinct": "distinct count", "count": "count", "average": "average",
              "max": "maximum", "min": "minimum"}


def describe(manifest: Any, metric_name: str) -> MetricDefinition:
    metric = next(m for m in manifest.metrics if m.name == metric_name)
    measures = {measure.name: (model, measure) for model in manifest.semantic_models for measure in model.measures}
    params = metric.type_params
    parts: list[str] = []
    metric_type = str(getattr(metric.type, "value", metric.type))
    if params.measure is not None:
        model, measure = measures[params.measure.name]
        agg = _AGG_WORDS.get(str(getattr(measure.agg, "value", measure.agg)), str(measure.agg))
        parts.append(f"{agg} of `{(measure.expr or measure.name).strip()}` over `{model.node_relation.alias}`")
        if measure.non_additive_dimension is not None:
            day = measure.non_additive_dimension.name
            parts.append(f"taken on the last `{day}` of the period (not summed over time)")
    if params.expr and metric_type == "derived":
        inputs = []
        for ref in params.metrics or ():
            text = ref.name
            if ref.offset_window is not None:
                window = ref.offset_window
                text += f" {window.count} {window.granularity} earlier"
            if ref.alias:
                text += f" (as `{ref.alias}`)"
            inputs.append(text)
        parts.append(f"formula `{params.expr.strip()}` with " + ", ".join(inputs))
    if metric.filter is not None:
        wheres = [f"`{w.where_sql_template.strip()}`" for w in metric.filter.where_filters]
        parts.append("filtered by " + " and ".join(wheres))
    return MetricDefinition(
        name=metric.name,
        label=metric.label or metric.name,
        description=" ".join((metric.description or "").split()),
        metric_type=metric_type,
        definition="; ".join(parts),
    )
