"""Audit domain: recorded analyses (what was published, from which inputs and settings)."""

from domain.audit.records import (
    AnalysisRecord,
    AnalysisSettings,
    compare_summaries,
    summarize,
)

__all__ = ["AnalysisRecord", "AnalysisSettings", "compare_summaries", "summarize"]
