"""A journal written from Python is the journal `tradeledger import` writes, and the queries
give the numbers of `tradeledger … --json`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import T0, UTC, cli_object, history, json_lines

import tradeledger


def write_from_python(journal: Path) -> None:
    with tradeledger.Ledger.create(journal) as ledger:
        for batch in history():
            ledger.append(batch)


def without_append_time(records):
    return [{k: v for k, v in record.items() if k != "recorded_at"} for record in records]


def test_dump_of_a_journal_written_from_python_equals_that_of_import(cli, tmp_path):
    from_python, from_import = tmp_path / "python", tmp_path / "import"
    write_from_python(from_python)
    lines = tmp_path / "events.jsonl"
    lines.write_text(json_lines([event for batch in history() for event in batch]))
    cli.run("import", str(from_import), str(lines))

    dumped = cli.dump(from_python)
    assert len(dumped) == sum(len(batch) for batch in history())
    assert without_append_time(dumped) == without_append_time(cli.dump(from_import))


def test_dump_gives_back_each_value_as_written(cli, journal):
    write_from_python(journal)
    dumped = cli.dump(journal)
    signal, opened, snapshot, modified = dumped[0], dumped[1], dumped[2], dumped[3]
    assert [r["seq"] for r in dumped] == list(range(1, len(dumped) + 1))
    assert signal["signal_type"] == "BUY"  # the contract's spelling, whatever the input's case
    assert signal["price"] == "1.10450"  # the scale is kept
    assert signal["stop_loss"] == "1.10250"
    assert signal["confidence"] == 0.8 and signal["ml_agreed"] is True
    assert opened["entry_time"] == "2024-01-02T10:00:00.25Z"
    assert opened["take_profit"] is None and opened["commission"] == "-0.70"
    assert opened["comment"] == 'quote " and \\ backslash, café'
    assert snapshot["snapshot_time"] == "2024-01-02T10:00:00Z"  # 11:00 at +01:00
    assert modified["time"] == "2024-01-02T10:00:00Z"
    assert modified["take_profit"] == "none" and modified["stop_loss"] == "1.10460"
    assert dumped[-3]["volume"] == "0.10" and dumped[-3]["entry_price"] == "145.123"


@pytest.fixture
def written(journal):
    write_from_python(journal)
    ledger = tradeledger.Ledger.open(journal)
    yield journal, ledger
    ledger.close()


STATS_CASES = [
    ({}, []),
    ({"start_date": date(2024, 1, 3)}, ["--from", "2024-01-03"]),
    ({"end_date": "2024-01-02"}, ["--to", "2024-01-02"]),
    (
        {"start_date": T0, "end_date": T0 + timedelta(days=1, hours=1), "by": "entry"},
        ["--from", "2024-01-02T10:00:00Z", "--to", "2024-01-03T11:00:00Z", "--by", "entry"],
    ),
    ({"symbol": "GBPUSD"}, ["--symbol", "GBPUSD"]),
    ({"account_number": 12345}, ["--account", "12345"]),
]


@pytest.mark.parametrize("kwargs,args", STATS_CASES)
def test_stats_json_equals_get_trade_statistics(cli, written, kwargs, args):
    journal, ledger = written
    statistics = ledger.get_trade_statistics(**kwargs)
    assert isinstance(statistics["total_profit"], Decimal)
    assert cli_object(statistics) == cli.json("stats", str(journal), *args)


def test_stats_counts_what_was_written(written):
    _, ledger = written
    statistics = ledger.get_trade_statistics()
    assert statistics["total_trades"] == 2
    assert statistics["winning_trades"] == 1 and statistics["losing_trades"] == 1
    assert statistics["total_profit"] == Decimal("-21.00")
    assert statistics["profit_factor"] == Decimal("0.65")
    costs = statistics["total_commission"] + statistics["total_swap"]
    assert statistics["net_result"] == statistics["total_profit"] + costs
    assert isinstance(statistics["max_drawdown"], Decimal)


def test_every_query_equals_its_command(cli, written):
    journal, ledger = written
    d = str(journal)
    rows = lambda found: [cli_object(row) for row in found]  # noqa: E731
    assert rows(ledger.get_open_trades()) == cli.json("trades", "--open", d)
    assert rows(ledger.get_open_trades(symbol="GBPUSD")) == cli.json("trades", "--open", "--symbol", "GBPUSD", d)
    assert cli_object(ledger.get_by_ticket(1001)) == cli.json("trades", "--ticket", "1001", d)
    assert ledger.get_by_ticket(4242) is None and cli.json("trades", "--ticket", "4242", d) is None
    assert rows(ledger.get_trades_by_date_range(T0, T0 + timedelta(days=2))) == cli.json(
        "trades", "--from", "2024-01-02T10:00:00Z", "--to", "2024-01-04T10:00:00Z", d
    )
    assert rows(ledger.get_trades(status="cancelled")) == cli.json("trades", "--status", "cancelled", d)
    assert rows(ledger.get_trades(by="exit", end="2024-01-02")) == cli.json(
        "trades", "--by", "exit", "--to", "2024-01-02", d
    )
    assert rows(ledger.get_recent_signals()) == cli.json("signals", d)
    assert rows(ledger.get_recent_signals(symbol="EURUSD", limit=1)) == cli.json(
        "signals", "--symbol", "EURUSD", "--limit", "1", d
    )
    assert cli_object(ledger.get_signal_execution_rate()) == cli.json("execution-rate", d)
    assert cli_object(ledger.get_signal_execution_rate(T0 + timedelta(hours=1))) == cli.json(
        "execution-rate", "--since", "2024-01-02T11:00:00Z", d
    )
    assert cli_object(ledger.get_latest_snapshot(12345)) == cli.json("snapshots", "--account", "12345", "--latest", d)
    assert ledger.get_latest_snapshot(1) is None
    assert rows(ledger.get_snapshots_by_date_range(12345, T0, T0 + timedelta(days=1))) == cli.json(
        "snapshots", "--account", "12345", "--from", "2024-01-02T10:00:00Z", "--to", "2024-01-03T10:00:00Z", d
    )
    assert rows(ledger.get_daily_performance()) == cli.json("daily", d)
    assert rows(ledger.get_daily_performance(account_number=12345)) == cli.json("daily", "--account", "12345", d)
    assert cli_object(ledger.get_performance_summary()) == cli.json("summary", d)
    assert cli_object(ledger.get_performance_summary(date(2024, 1, 3), date(2024, 1, 3))) == cli.json(
        "summary", "--from", "2024-01-03", "--to", "2024-01-03", d
    )
    day = ledger.get_daily_performance_by_date(date(2024, 1, 3))
    assert day is not None and day.net_profit == Decimal("-60.00")
    assert day.net_result == day.net_profit + day.total_commission + day.total_swap
    assert ledger.get_daily_performance_by_date("2024-01-05") is None


def test_results_are_decimals_and_aware_utc_datetimes(written):
    _, ledger = written
    trade = ledger.get_by_ticket(1001)
    assert isinstance(trade, tradeledger.Trade)
    assert trade.entry_time == datetime(2024, 1, 2, 10, 0, 0, 250_000, tzinfo=UTC)
    assert trade.entry_time.tzinfo is UTC
    assert trade.exit_price == Decimal("1.10850") and str(trade.exit_price) == "1.10850"
    assert trade.duration_seconds == 4 * 3600 + 30 * 60 - 1
    assert trade.status == "CLOSED" and trade.close_reason == "take profit"
    assert trade.stop_loss == Decimal("1.10460") and trade.take_profit is None
    snapshot = ledger.get_latest_snapshot(12345)
    assert isinstance(snapshot, tradeledger.AccountSnapshot)
    assert snapshot.snapshot_time == datetime(2024, 1, 4, 14, 0, tzinfo=UTC)
    signal = ledger.get_recent_signals(limit=1)[0]
    assert isinstance(signal, tradeledger.Signal) and signal.executed and signal.ticket == 1002
    day = ledger.get_daily_performance()[0]
    assert isinstance(day, tradeledger.DailyPerformance) and day.date == date(2024, 1, 2)
    assert ledger.get_signal_execution_rate()["execution_rate"] == Decimal("100")


def test_query_bounds_refuse_naive_datetimes(written):
    _, ledger = written
    with pytest.raises(ValueError, match="naive datetime"):
        ledger.get_trade_statistics(datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="naive datetime"):
        ledger.get_performance_summary(end_date=datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="end"):
        ledger.get_trades(end="yesterday")
    with pytest.raises(ValueError, match="by must be"):
        ledger.get_trade_statistics(by="close")


def test_to_pandas_keeps_decimals_and_times(written):
    import pandas  # installed by .ci/run: an optional dependency of the package, not of its tests

    _, ledger = written
    frame = tradeledger.to_pandas(ledger.get_trades())
    assert list(frame["ticket"]) == [1001, 1002, 1003, 1004, 1005]
    assert str(frame["entry_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["entry_time"].iloc[0] == pandas.Timestamp("2024-01-02T10:00:00.25Z")
    assert frame["entry_price"].iloc[0] == Decimal("1.10460")
    floats = tradeledger.to_pandas(ledger.get_trades(), decimals="float")
    assert str(floats["profit"].dtype) == "float64" and floats["profit"].iloc[1] == -60.0
    stats = tradeledger.to_pandas(ledger.get_trade_statistics())
    assert len(stats) == 1 and stats["total_trades"].iloc[0] == 2


def test_a_pandas_timestamp_keeps_its_nanoseconds(cli, journal):
    import pandas

    at = pandas.Timestamp("2024-01-02T12:00:00.123456789+02:00")
    with tradeledger.Ledger.create(journal) as ledger:
        ledger.append([{**history()[0][1], "signal_id": None, "entry_time": at}])
        # Python's datetime holds microseconds: the query drops the last three digits.
        assert ledger.get_by_ticket(1001).entry_time == datetime(2024, 1, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert cli.dump(journal)[0]["entry_time"] == "2024-01-02T10:00:00.123456789Z"
    assert cli.json("trades", "--ticket", "1001", str(journal))["entry_time"] == "2024-01-02T10:00:00.123456789Z"


def test_read_only_reads_a_journal_another_ledger_writes(journal):
    with tradeledger.Ledger.create(journal) as writer:
        writer.append(history()[0])
        # The writer holds the journal's lock: a second writer is refused, a reader is not.
        with tradeledger.Ledger.open(journal, read_only=True) as reader:
            assert reader.read_only and not writer.read_only
            assert reader.head_seq == writer.head_seq == 2
            assert reader.get_open_trades() == writer.get_open_trades()
            assert reader.durability == "buffered"
            with pytest.raises(tradeledger.TradeledgerError, match="read-only"):
                reader.append(history()[1])
            writer.append(history()[1])
            # As of its open: what was appended since shows after opening again.
            assert reader.head_seq == 2
        with tradeledger.Ledger.open(journal, read_only=True) as reader:
            assert reader.head_seq == 4
            assert reader.get_latest_snapshot(12345) == writer.get_latest_snapshot(12345)
    with pytest.raises(tradeledger.TradeledgerError, match="cannot open"):
        tradeledger.Ledger.open(journal.parent / "missing", read_only=True)
