"""Budget & entropy: the exploration budget in its band, diversity trends, entropy responses.

Everything here is read-only: methods that look like reads but write
(``calculate_budget_adjustment``, ``trigger_entropy_response``, ``record_pattern_entropy``;
contract section 13.2) are never called. ``check_entropy_response_needed`` computes the
entropy over all applications (about 0.5 s on a large store), so it runs in ``fetch`` (a
worker thread), and the app only fetches when the change probe fired or a refresh was forced.

The advice lines carry over the rules of Marianne's ``patterns-budget``, ``patterns-entropy``
and ``entropy-status`` commands (ux-anchors section 1.2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.widgets import Static

from marianne_tui.formatting import stamp
from marianne_tui.screens.base import StoreScreen
from marianne_tui.text import untrusted
from marianne_tui.widgets.live_table import Column, LiveTable, Row
from marianne_tui.widgets.sparkline_panel import SparklinePanel
from store import BUDGET_CEILING, BUDGET_FLOOR, DIVERSITY_THRESHOLD

if TYPE_CHECKING:
    from store import (
        EntropyResponseRecord,
        ExplorationBudgetRecord,
        GlobalLearningStore,
        PatternEntropyMetrics,
    )

HISTORY_LIMIT = 120
RESPONSES_LIMIT = 50
#: patterns-budget bands: at or below 10 % "near floor", at or above 30 % "exploring".
LOW_BAND = 0.10
HIGH_BAND = 0.30
#: patterns-budget advice: floor enforced on more than 30 % of the adjustments.
FLOOR_HIT_SHARE = 0.30
#: entropy-status advice: more than 10 responses means the patterns need a review.
MANY_RESPONSES = 10
#: learning-system guide: Shannon entropy under 1 bit is "dangerous convergence", over 2 healthy.
LOW_BITS = 1.0
#: patterns-entropy colours: dominant share over 50 % red, over 30 % yellow.
DOMINANT_RED = 0.5
DOMINANT_YELLOW = 0.3
BAR_WIDTH = 30

RESPONSE_COLUMNS = (
    Column("time", "Time", 11),
    Column("entropy", "Div.", 5),
    Column("threshold", "Thresh", 6),
    Column("boost", "Boost", 5),
    Column("revisits", "Rev.", 4),
    Column("actions", "Actions", 44),
)

BUDGET_COLUMNS = (
    Column("time", "Time", 11),
    Column("budget", "Budget", 6),
    Column("entropy", "Entropy", 7),
    Column("type", "Type", 16),
    Column("reason", "Reason", 40),
)


@dataclass(frozen=True)
class BudgetData:
    """Everything the screen shows, read in one worker pass."""

    budget: ExplorationBudgetRecord | None
    history: tuple[ExplorationBudgetRecord, ...]  # newest first
    budget_stats: dict[str, Any]
    entropy_history: tuple[PatternEntropyMetrics, ...]  # newest first
    responses: tuple[EntropyResponseRecord, ...]  # newest first
    response_stats: dict[str, Any]
    needed: tuple[bool, float | None, str]
    now: datetime


def budget_band(value: float) -> tuple[str, str]:
    """Glyph + word of the patterns-budget band, and a style."""
    if value <= LOW_BAND:
        return "▼ low (near floor)", "bold yellow"
    if value >= HIGH_BAND:
        return "▲ high (exploring)", "cyan"
    return "● normal", "green"


def band_bar(value: float, floor: float = BUDGET_FLOOR, ceiling: float = BUDGET_CEILING,
             width: int = BAR_WIDTH) -> Text:
    """``floor 0.05 ├────●──────┤ 0.50 ceiling``: where the budget sits in its band."""
    span = ceiling - floor
    share = 0.0 if span <= 0 else min(1.0, max(0.0, (value - floor) / span))
    position = round(share * (width - 1))
    bar = Text(no_wrap=True)
    bar.append(f"floor {floor:.2f} ", style="dim")
    bar.append("├")
    bar.append("─" * position)
    bar.append("●", style="bold")
    bar.append("─" * (width - 1 - position))
    bar.append("┤")
    bar.append(f" {ceiling:.2f} ceiling", style="dim")
    return bar


def advice(data: BudgetData) -> list[tuple[str, str]]:
    """(line, style) pairs: the CLI's advice rules applied to what the store holds."""
    lines: list[tuple[str, str]] = []
    stats = data.budget_stats
    total = int(stats.get("total_adjustments") or 0)
    floor_hits = int(stats.get("floor_enforcements") or 0)
    if total and floor_hits / total > FLOOR_HIT_SHARE:
        lines.append((
            f"⚠ The budget hit the floor in {floor_hits / total:.0%} of {total} adjustments: "
            "lower the entropy threshold or raise the boost amount.",
            "yellow",
        ))
    if data.budget is not None and data.budget.budget_value <= LOW_BAND:
        lines.append(("⚠ Budget near the floor: heavy exploitation, few new patterns get "
                      "tried.", "yellow"))
    boosts = int(stats.get("boost_count") or 0)
    decays = int(stats.get("decay_count") or 0)
    if total >= 5 and boosts > decays:
        lines.append((f"⚠ More boosts ({boosts}) than decays ({decays}): diversity keeps "
                      "falling below the threshold.", "yellow"))
    if data.entropy_history:
        latest = data.entropy_history[0]
        if latest.diversity_index < DIVERSITY_THRESHOLD:
            lines.append((f"✖ Low diversity {latest.diversity_index:.2f} < "
                          f"{DIVERSITY_THRESHOLD:.2f}: model collapse risk.", "bold red"))
        if latest.total_applications and latest.shannon_entropy < LOW_BITS:
            lines.append((f"✖ Shannon entropy {latest.shannon_entropy:.2f} bits < 1.0: "
                          "dangerous convergence.", "bold red"))
        if latest.dominant_pattern_share > DOMINANT_RED:
            lines.append((f"✖ One pattern holds {latest.dominant_pattern_share:.0%} of the "
                          "applications.", "bold red"))
    responses = int(data.response_stats.get("total_responses") or 0)
    if responses > MANY_RESPONSES:
        lines.append((f"⚠ {responses} entropy responses so far: review the patterns that "
                      "dominate.", "yellow"))
    if not lines:
        lines.append(("✓ No advice: budget and diversity look healthy.", "green"))
    return lines


class BudgetScreen(StoreScreen):
    """Exploration budget and pattern entropy (key 3)."""

    TITLE_TEXT = "Budget & entropy"
    #: What is on screen (``apply`` skips a fetch that would show the same).
    _shown_data: BudgetData | None = None

    DEFAULT_CSS = """
    BudgetScreen #budget-scroll { height: 1fr; padding: 0 1; }
    BudgetScreen #budget-gauge, BudgetScreen #entropy-now, BudgetScreen #response-needed,
    BudgetScreen #budget-stats, BudgetScreen #budget-advice { height: auto; }
    BudgetScreen #budget-charts { height: auto; margin: 1 0 0 0; }
    BudgetScreen #budget-tables { layout: vertical; height: auto; }
    BudgetScreen .budget-section { height: auto; }
    BudgetScreen .budget-table-title { height: 1; margin: 1 0 0 0; text-style: bold; }
    BudgetScreen LiveTable { height: auto; max-height: 8; }
    BudgetScreen.-wide LiveTable { max-height: 12; }
    """

    # -- layout -------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="budget-scroll"):
            yield Static(id="budget-gauge")
            with Container(id="budget-charts"):
                yield SparklinePanel("Budget", id="spark-budget")
                yield SparklinePanel("Diversity index", id="spark-diversity")
                yield SparklinePanel("Shannon H (bits)", id="spark-entropy")
                yield SparklinePanel("Dominant share", id="spark-dominant")
            yield Static(id="entropy-now")
            yield Static(id="response-needed")
            yield Static(id="budget-stats")
            yield Static(id="budget-advice")
            with Container(id="budget-tables"):
                with Vertical(classes="budget-section"):
                    yield Static("Entropy responses (newest first)",
                                 classes="budget-table-title")
                    yield LiveTable(RESPONSE_COLUMNS, id="responses-table")
                with Vertical(classes="budget-section"):
                    yield Static("Budget adjustments (newest first)",
                                 classes="budget-table-title")
                    yield LiveTable(BUDGET_COLUMNS, id="budget-table")

    # -- refresh protocol ---------------------------------------------------------------

    def fetch(self, store: GlobalLearningStore, params: object) -> BudgetData:
        # Only reads (contract 13.2). The cooldown part of the check looks at the last
        # response of any job (a falsy job hash means "any job"); the diversity part covers
        # every applied pattern, which is what the console watches.
        return BudgetData(
            budget=store.get_exploration_budget(None),
            history=tuple(store.get_exploration_budget_history(None, limit=HISTORY_LIMIT)),
            budget_stats=dict(store.get_exploration_budget_statistics(None)),
            entropy_history=tuple(store.get_pattern_entropy_history(limit=HISTORY_LIMIT)),
            responses=tuple(store.get_entropy_response_history(None, limit=RESPONSES_LIMIT)),
            response_stats=dict(store.get_entropy_response_statistics(None)),
            needed=store.check_entropy_response_needed(
                "", entropy_threshold=DIVERSITY_THRESHOLD
            ),
            now=store.clock.local(),
        )

    def apply(self, data: BudgetData) -> None:
        shown = self._shown_data
        if shown is not None and replace(data, now=shown.now) == shown:
            return  # a write to other tables (applications, most often): nothing to redraw
        self._shown_data = data
        self._show_gauge(data)
        self._show_charts(data)
        self._show_entropy_now(data)
        self._show_needed(data)
        self._show_stats(data)
        advice_text = Text("\n").join(Text(line, style=style) for line, style in advice(data))
        self.query_one("#budget-advice", Static).update(advice_text)
        self.query_one("#responses-table", LiveTable).apply(
            [self._response_row(r) for r in data.responses]
        )
        self.query_one("#budget-table", LiveTable).apply(
            [self._budget_row(r) for r in data.history[:RESPONSES_LIMIT]]
        )

    # -- sections -------------------------------------------------------------------------

    def _show_gauge(self, data: BudgetData) -> None:
        text = Text()
        text.append("Exploration budget ", style="bold")
        if data.budget is None:
            text.append("– (no budget recorded yet)", style="dim")
        else:
            value = data.budget.budget_value
            band, style = budget_band(value)
            text.append(f"{value:.2f} ", style="bold")
            text.append(band, style=style)
            text.append(" · last ")
            text.append_text(untrusted(data.budget.adjustment_type, 20))
            text.append(f" {stamp(data.budget.recorded_at)}")
            entropy = data.budget.entropy_at_time
            if entropy is not None and entropy == entropy:
                text.append(" · entropy at last check ")
                low = entropy < DIVERSITY_THRESHOLD
                text.append(f"{entropy:.2f}", style="bold red" if low else "")
            text.append("\n")
            text.append_text(band_bar(value))
        self.query_one("#budget-gauge", Static).update(text)

    def _show_charts(self, data: BudgetData) -> None:
        budgets = [r.budget_value for r in reversed(data.history)]
        snapshots = list(reversed(data.entropy_history))

        def caption(values: list[float], fmt: str, extra: str = "", unit: str = "") -> Text:
            if not values:
                return Text("no history yet", style="dim")
            return Text(
                f"now {format(values[-1], fmt)}{unit} · {format(min(values), fmt)}–"
                f"{format(max(values), fmt)}{unit} · {len(values)} pts{extra}",
                no_wrap=True,
            )

        self.query_one("#spark-budget", SparklinePanel).show(
            budgets, caption(budgets, ".2f"))
        diversity = [s.diversity_index for s in snapshots]
        self.query_one("#spark-diversity", SparklinePanel).show(
            diversity, caption(diversity, ".2f", f" · ≥{DIVERSITY_THRESHOLD:.2f} healthy"))
        bits = [s.shannon_entropy for s in snapshots]
        self.query_one("#spark-entropy", SparklinePanel).show(bits, caption(bits, ".2f"))
        dominant = [s.dominant_pattern_share * 100 for s in snapshots]
        self.query_one("#spark-dominant", SparklinePanel).show(
            dominant, caption(dominant, ".0f", unit="%"))

    def _show_entropy_now(self, data: BudgetData) -> None:
        text = Text()
        text.append("Latest entropy snapshot ", style="bold")
        if not data.entropy_history:
            text.append("– none recorded (Marianne records one with patterns-entropy "
                        "--record)", style="dim")
        else:
            s = data.entropy_history[0]
            low = s.diversity_index < DIVERSITY_THRESHOLD
            text.append(f"{stamp(s.calculated_at)}: ")
            text.append(f"diversity {s.diversity_index:.2f} ", style="bold red" if low else "")
            text.append("✖ low" if low else "✓ ok", style="bold red" if low else "green")
            text.append(f" (threshold {DIVERSITY_THRESHOLD:.2f}) · H {s.shannon_entropy:.2f}"
                        f" of {s.max_possible_entropy:.2f} bits · {s.unique_pattern_count}"
                        f" patterns, {s.effective_pattern_count} effective · "
                        f"{s.total_applications} applications · dominant ")
            share = s.dominant_pattern_share
            style = ("bold red" if share > DOMINANT_RED
                     else "yellow" if share > DOMINANT_YELLOW else "")
            text.append(f"{share:.0%}", style=style)
        self.query_one("#entropy-now", Static).update(text)

    def _show_needed(self, data: BudgetData) -> None:
        needed, diversity, reason = data.needed
        text = Text()
        text.append("Entropy response needed now? ", style="bold")
        if needed:
            text.append("⚠ yes", style="bold red")
        else:
            text.append("✓ no", style="green")
        text.append(" — ")
        text.append_text(untrusted(reason, 120))
        text.append(" (cooldown: last response of any job)", style="dim")
        if diversity is not None:
            text.append(f" (diversity over all applications now: {diversity:.3f})",
                        style="dim")
        self.query_one("#response-needed", Static).update(text)

    def _show_stats(self, data: BudgetData) -> None:
        stats = data.budget_stats
        total = int(stats.get("total_adjustments") or 0)
        text = Text()
        text.append("Adjustments ", style="bold")
        if total:
            floor_hits = int(stats.get("floor_enforcements") or 0)
            text.append(
                f"{total}: ▲ {stats.get('boost_count', 0)} boosts · "
                f"▼ {stats.get('decay_count', 0)} decays · "
                f"floor hits {floor_hits} ({floor_hits / total:.0%}) · "
                f"avg {float(stats.get('avg_budget') or 0):.2f} · range "
                f"{float(stats.get('min_budget') or 0):.2f}–"
                f"{float(stats.get('max_budget') or 0):.2f}"
            )
        else:
            text.append("none yet", style="dim")
        responses = data.response_stats
        count = int(responses.get("total_responses") or 0)
        text.append("\nEntropy responses ", style="bold")
        if count:
            text.append(
                f"{count}: avg diversity at trigger "
                f"{float(responses.get('avg_entropy_at_trigger') or 0):.2f} · "
                f"budget boosts {responses.get('budget_boosts', 0)} · "
                f"quarantine revisits {responses.get('quarantine_revisits', 0)}"
            )
            if data.responses:
                text.append(f" · last {stamp(data.responses[0].recorded_at)}")
        else:
            text.append("none yet", style="dim")
        self.query_one("#budget-stats", Static).update(text)

    # -- tables ---------------------------------------------------------------------------

    def _response_row(self, record: EntropyResponseRecord) -> Row:
        boosted = Text("▲ yes", style="cyan") if record.budget_boosted else Text("no")
        actions = ", ".join(record.actions_taken) if record.actions_taken else "none"
        return Row(
            record.id,
            (
                Text(stamp(record.recorded_at), no_wrap=True),
                Text(f"{record.entropy_at_trigger:.3f}", justify="right"),
                Text(f"{record.threshold_used:.3f}", justify="right"),
                boosted,
                Text(str(record.quarantine_revisits), justify="right"),
                untrusted(actions, 60),
            ),
        )

    def _budget_row(self, record: ExplorationBudgetRecord) -> Row:
        entropy = record.entropy_at_time
        if entropy is None or entropy != entropy:
            entropy_cell = Text("–", justify="right")
        else:
            entropy_cell = Text(f"{entropy:.2f}", justify="right",
                                style="bold red" if entropy < DIVERSITY_THRESHOLD else "")
        return Row(
            record.id,
            (
                Text(stamp(record.recorded_at), no_wrap=True),
                Text(f"{record.budget_value:.2f}", justify="right"),
                entropy_cell,
                untrusted(record.adjustment_type, 16),
                untrusted(record.adjustment_reason or "", 80),
            ),
        )
