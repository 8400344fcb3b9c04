//! §5: the exact JSON text of every output shape.

use super::fixtures::*;
use crate::model::event::*;
use crate::projection::TimeRange;

#[test]
fn trade_object() {
    let state = journal([
        Event::Signal(signal(42, "EURUSD", "2024-01-02T09:59:00Z")),
        Event::TradeOpened(TradeOpened {
            trade_type: TradeType::Sell,
            stop_loss: Some(dec("1.10950")),
            take_profit: None,
            magic_number: 234000,
            strategy_name: Some("ma_cross".into()),
            signal_id: Some(42),
            signal_confidence: Some(0.85),
            signal_reason: Some("fast MA crossed".into()),
            ml_enhanced: true,
            ml_confidence: Some(0.5),
            ai_reasoning: Some("ok".into()),
            commission: dec("-0.70"),
            comment: Some("bot".into()),
            ..opened(1001, "EURUSD", "2024-01-02T10:00:00.123Z")
        }),
        Event::TradeClosed(TradeClosed {
            pips: Some(dec("-5.0")),
            reason: Some("stop loss".into()),
            ..closed(1001, "2024-01-02T11:00:00.5Z", "-5.00")
        }),
    ]);
    let json = serde_json::to_string(&state.trade_by_ticket(1001).unwrap()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"ticket":1001,"symbol":"EURUSD","trade_type":"SELL","status":"CLOSED","volume":"0.10","#,
            r#""entry_price":"1.10450","entry_time":"2024-01-02T10:00:00.123Z","exit_price":"1.10550","#,
            r#""exit_time":"2024-01-02T11:00:00.5Z","profit":"-5.00","pips":"-5.0","commission":"-0.70","#,
            r#""swap":"0","duration_seconds":3600,"stop_loss":"1.10950","take_profit":null,"#,
            r#""magic_number":234000,"account_number":1001,"strategy_name":"ma_cross","signal_id":42,"#,
            r#""signal_confidence":0.85,"signal_reason":"fast MA crossed","ml_enhanced":true,"#,
            r#""ml_confidence":0.5,"ai_approved":true,"ai_reasoning":"ok","comment":"bot","#,
            r#""close_reason":"stop loss"}"#
        )
    );
    assert_eq!(
        serde_json::to_string(&state.trade_by_ticket(7).unwrap()).unwrap(),
        "null"
    );
}

#[test]
fn signal_object() {
    let state = journal([Event::Signal(Signal {
        signal_type: SignalType::Hold,
        stop_loss: Some(dec("1.10000")),
        reason: Some("flat".into()),
        ml_enhanced: true,
        ml_confidence: Some(0.6),
        ml_agreed: Some(false),
        ..signal(7, "GBPUSD", "2024-01-02T10:00:00+02:00")
    })]);
    let json = serde_json::to_string(&state.recent_signals(None, 100).unwrap()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"[{"signal_id":7,"symbol":"GBPUSD","signal_type":"HOLD","timestamp":"2024-01-02T08:00:00Z","#,
            r#""price":"1.10450","stop_loss":"1.10000","take_profit":null,"confidence":0.75,"reason":"flat","#,
            r#""strategy_name":"ma_cross","timeframe":"H1","ml_enhanced":true,"ml_confidence":0.6,"#,
            r#""ml_agreed":false,"executed":false,"execution_reason":null,"ticket":null}]"#
        )
    );
}

#[test]
fn snapshot_object() {
    let state = journal([Event::AccountSnapshot(AccountSnapshot {
        profit: Some(dec("12.50")),
        margin: Some(dec("100.00")),
        margin_free: Some(dec("9912.50")),
        margin_level: Some(dec("10012.5")),
        total_volume: dec("0.10"),
        open_positions: 1,
        ..snapshot(
            12345,
            "2024-01-02T10:00:00.000000001Z",
            "10000.00",
            "10012.50",
        )
    })]);
    let json = serde_json::to_string(&state.latest_snapshot(12345).unwrap()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"account_number":12345,"server":"Demo-1","broker":"Broker","balance":"10000.00","#,
            r#""equity":"10012.50","profit":"12.50","margin":"100.00","margin_free":"9912.50","#,
            r#""margin_level":"10012.5","open_positions":1,"total_volume":"0.10","#,
            r#""snapshot_time":"2024-01-02T10:00:00.000000001Z"}"#
        )
    );
    assert_eq!(
        state
            .snapshots_between(12345, TimeRange::ALL)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn execution_rate_object_and_negative_zero() {
    let state = journal([
        Event::Signal(signal(1, "EURUSD", "2024-01-02T10:00:00Z")),
        Event::TradeOpened(opened(1, "EURUSD", "2024-01-02T10:00:00Z")),
        Event::TradeClosed(closed(1, "2024-01-02T10:00:00Z", "-0.00")),
    ]);
    let json = serde_json::to_string(&state.signal_execution_rate(None).unwrap()).unwrap();
    assert_eq!(
        json,
        r#"{"total_signals":1,"executed_signals":0,"execution_rate":"0"}"#
    );
    let trade = serde_json::to_string(&state.trade_by_ticket(1).unwrap().unwrap()).unwrap();
    assert!(
        trade.contains(r#""profit":"0.00""#),
        "a negative zero prints as zero: {trade}"
    );
}
