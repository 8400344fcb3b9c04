//! `parse(write(e)) == e` for arbitrary valid events, and the written text is stable.

mod common;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use rust_decimal::Decimal;
use tradeledger::model::event::{Event, Timestamp};
use tradeledger::model::interchange::{
    decimal_to_json, parse_event, read_events, timestamp_to_json, write_event, MAX_LINE_BYTES,
};

fn written(event: &Event, seq: Option<u64>, recorded_at: Option<Timestamp>) -> String {
    let mut line = String::new();
    write_event(&mut line, event, seq, recorded_at);
    line
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parse_of_write_is_the_event(
        event in common::any_event(),
        seq in option::of(any::<u64>()),
        recorded_at in option::of(common::any_timestamp()),
    ) {
        let line = written(&event, seq, recorded_at);
        prop_assert!(!line.contains('\n'));
        prop_assert!(line.len() <= MAX_LINE_BYTES);
        let parsed = parse_event(&line);
        prop_assert_eq!(parsed.as_ref(), Ok(&event), "line: {}", line);
        let parsed = parsed.unwrap();
        prop_assert!(common::identical(&parsed, &event), "a decimal scale changed");
        prop_assert_eq!(written(&parsed, seq, recorded_at), line);
    }

    #[test]
    fn files_of_events_round_trip_with_line_numbers(
        events in vec(common::any_event(), 0..6),
        crlf in any::<bool>(),
    ) {
        let ending = if crlf { "\r\n" } else { "\n" };
        let mut file = String::new();
        for (seq, event) in events.iter().enumerate() {
            write_event(&mut file, event, Some(seq as u64), Some(Timestamp::MAX));
            file.push_str(ending);
        }
        let read = read_events(file.as_bytes()).unwrap();
        let numbers: Vec<u64> = read.iter().map(|(line, _)| *line).collect();
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        prop_assert_eq!(numbers, expected);
        for ((_, read), event) in read.iter().zip(&events) {
            prop_assert!(common::identical(read, event), "a decimal scale changed");
        }
    }

    #[test]
    fn decimals_print_exactly_with_their_scale(decimal in common::any_decimal()) {
        let json = decimal_to_json(&decimal);
        let text = json.as_str().unwrap();
        let back: Decimal = text.parse().unwrap();
        prop_assert_eq!(back.scale(), decimal.scale());
        prop_assert_eq!(back, decimal);
        prop_assert!(!text.contains(['e', 'E', '+']), "{}", text);
    }

    #[test]
    fn timestamps_print_as_utc_without_trailing_zeros(time in common::any_timestamp()) {
        let json = timestamp_to_json(time);
        let text = json.as_str().unwrap();
        prop_assert!(text.ends_with('Z'));
        prop_assert!(!text.contains(".") || !text.ends_with("0Z"), "{}", text);
        prop_assert_eq!(Timestamp::parse_rfc3339(text), Ok(time));
    }
}
