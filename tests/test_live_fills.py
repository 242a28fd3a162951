"""live.fills: the one booking path of both brokers (journal once, position, cash, order progress)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest

from maml_strategy.live.broker import RobinhoodBroker
from maml_strategy.live.fills import book_fill, pending_size
from maml_strategy.live.journal import FillRecord, Journal
from maml_strategy.live.paper import PaperBroker


def test_book_fill_journals_once_then_tracks_the_order(tmp_path) -> None:
    j = Journal(tmp_path / "j.json")
    j.upsert_order("r", symbol="SPY", side="buy", size=10.0, status="accepted")
    pos, applied = SimpleNamespace(size=0.0, price=0.0), []

    def apply(size: float, price: float) -> None:
        applied.append(size)
        pos.size, pos.price = pos.size + size, price

    assert book_fill(j, j.orders["r"], FillRecord("r:0", "r", "SPY", 4.0, 100.0, 0.4, ""), pos, lambda: 600.0,
                     apply=lambda: apply(4.0, 100.0))
    assert not book_fill(j, j.orders["r"], FillRecord("r:0", "r", "SPY", 4.0, 100.0, 0.4, ""), pos, lambda: 0.0,
                         apply=lambda: apply(4.0, 100.0))
    assert applied == [4.0] and j.cash == 600.0 and j.orders["r"].status == "partial"
    assert pending_size(j, "SPY") == 6.0
    assert book_fill(j, j.orders["r"], FillRecord("r:1", "r", "SPY", 6.0, 110.0, 0.6, ""), pos, lambda: -60.0,
                     apply=lambda: apply(6.0, 110.0))
    o = j.orders["r"]
    assert (o.status, o.filled, o.commission) == ("filled", 10.0, pytest.approx(1.0))
    assert o.avg_price == pytest.approx(106.0) and pending_size(j, "SPY") == 0.0
    again = Journal(tmp_path / "j.json")  # saved once per fill: a restart sees both
    assert again.loaded and again.positions["SPY"].size == 10.0 and len(again.fills) == 2 and again.cash == -60.0


@pytest.mark.parametrize("broker", [PaperBroker, RobinhoodBroker])
def test_both_brokers_book_through_the_one_path(broker: type) -> None:
    assert "book_fill(" in inspect.getsource(broker._record_fill)
    src = inspect.getsource(broker)
    assert "upsert_order(rec.ref_id, save=False, filled" not in src and "filled=filled" not in src
    assert not hasattr(broker, "_mark") and not hasattr(broker, "_pending")
    assert "mark_price(" in src and "pending_size(" in src
