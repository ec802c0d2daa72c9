"""`MiningReport`: what was mined, how, and what was thrown away — provenance for cards and dataset infos."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(np.asarray(values, dtype=np.float64), [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"p05": float(q[0]), "p25": float(q[1]), "p50": float(q[2]), "p75": float(q[3]), "p95": float(q[4])}


@dataclass
class MiningReport:
    """Counts are accumulated over every batch the miner processed in this process."""

    teacher: str | list[str]
    method: str
    config: dict
    backend: str = ""
    search_recall: float | None = None
    """Recall@k of an approximate (IVF) index against exact search, measured on the first queries."""
    num_queries: int = 0
    num_negatives_mined: int = 0
    num_rows_short: int = 0
    num_rows_empty: int = 0
    short_reasons: dict[str, int] = field(default_factory=dict)
    """Rows short of ``num_negatives`` by cause (the row's ``short_reason`` column says it in full)."""
    dropped: dict[str, int] = field(
        default_factory=lambda: {"positive_id": 0, "positive_text": 0, "query_text": 0, "method_filter": 0}
    )
    positive_scores: list[float] = field(default_factory=list, repr=False)
    negative_scores: list[float] = field(default_factory=list, repr=False)
    margins: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready summary (score lists are summarised as quantiles)."""
        out = asdict(self)
        for key in ("positive_scores", "negative_scores", "margins"):
            out.pop(key)
        out["quantiles"] = {
            "positive": _quantiles(self.positive_scores),
            "negative": _quantiles(self.negative_scores),
            "margin": _quantiles(self.margins),
        }
        return out

    def state(self) -> dict:
        """Everything, score lists included: what a rank hands over to be merged."""
        return asdict(self)

    def merge(self, other: MiningReport) -> None:
        """Add another process's counts and scores to this report."""
        for name in ("num_queries", "num_negatives_mined", "num_rows_short", "num_rows_empty"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, count in other.dropped.items():
            self.dropped[name] = self.dropped.get(name, 0) + count
        for name, count in other.short_reasons.items():
            self.short_reasons[name] = self.short_reasons.get(name, 0) + count
        self.positive_scores.extend(other.positive_scores)
        self.negative_scores.extend(other.negative_scores)
        self.margins.extend(other.margins)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text)
        return text

    def summary(self) -> str:
        """One line for logs: how many rows came up short of the asked-for negatives."""
        n = max(self.num_queries, 1)
        return (
            f"mined {self.num_negatives_mined} negatives for {self.num_queries} queries with {self.method}; "
            f"{self.num_rows_short} rows ({100 * self.num_rows_short / n:.1f}%) have fewer than "
            f"{self.config.get('num_negatives')}, {self.num_rows_empty} have none"
            + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.short_reasons.items()))})" if self.short_reasons else "")
            + (f"; {self.backend} recall@k vs exact search {self.search_recall:.3f}" if self.search_recall is not None else "")
        )

    def plot_histogram(self, path: str | Path) -> Path:
        """PNG of positive vs mined-negative teacher scores: where the filter threshold bites."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        values = self.positive_scores + self.negative_scores
        bins = np.linspace(min(values), max(values), 50) if values else 50
        ax.hist(self.positive_scores, bins=bins, alpha=0.6, label=f"positives (n={len(self.positive_scores)})")
        ax.hist(self.negative_scores, bins=bins, alpha=0.6, label=f"mined negatives (n={len(self.negative_scores)})")
        ax.set_xlabel("teacher score")
        ax.set_ylabel("count")
        params = ", ".join(f"{k}={v}" for k, v in self.config.get("method_params", {}).items())
        ax.set_title(f"{self.method}" + (f" ({params})" if params else ""))
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)
