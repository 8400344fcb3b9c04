//! UTC calendar-day arithmetic on [`Timestamp`]s, and the cut of an inclusive time range into
//! whole days (answered from per-day tallies) and partial pieces (answered by an index scan).

use std::ops::Bound;

use chrono::{Datelike, NaiveDate};

use crate::model::event::Timestamp;

pub(crate) const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// chrono counts days from 0001-01-01 as day 1; 1970-01-01 is day 719 163.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Days since 1970-01-01 (UTC). Every `Timestamp` falls on a day in ±106 752, far inside `i32`.
pub(crate) type Day = i32;

/// The inclusive bounds of a range of days, ready for `BTreeMap::range`.
pub(crate) type DayBounds = (Bound<Day>, Bound<Day>);

pub(crate) fn day_of(time: Timestamp) -> Day {
    time.nanos().div_euclid(NANOS_PER_DAY) as Day
}

/// Nanoseconds since the epoch of 00:00:00 of `day`; `i128` because the first instant of the
/// day after `Timestamp::MAX` is outside `i64`.
pub(crate) fn day_start_nanos(day: Day) -> i128 {
    day as i128 * NANOS_PER_DAY as i128
}

/// The last nanosecond of `day` (23:59:59.999999999), clamped into the `Timestamp` range.
pub(crate) fn day_end(day: Day) -> Timestamp {
    clamp(day_start_nanos(day + 1) - 1)
}

pub(crate) fn clamp(nanos: i128) -> Timestamp {
    Timestamp::from_nanos(nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

pub(crate) fn day_of_date(date: NaiveDate) -> Day {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// The calendar date of a day that came from a `Timestamp` (so always representable).
pub(crate) fn date_of_day(day: Day) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + UNIX_EPOCH_DAYS_FROM_CE).unwrap_or(NaiveDate::MAX)
}

/// Bounds for `BTreeMap::range` over days, or `None` when the range is empty (`range` panics
/// on a start after the end, so callers must not build one).
pub(crate) fn day_bounds(first: Option<Day>, last: Option<Day>) -> Option<DayBounds> {
    if let (Some(first), Some(last)) = (first, last) {
        if first > last {
            return None;
        }
    }
    let bound = |day: Option<Day>| day.map_or(Bound::Unbounded, Bound::Included);
    Some((bound(first), bound(last)))
}

/// An inclusive time range cut at UTC midnights: the whole days inside it and up to two partial
/// pieces (inclusive `(from, to)`) at its ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DaySplit {
    pub whole_days: Option<DayBounds>,
    pub pieces: [Option<(Timestamp, Timestamp)>; 2],
}

pub(crate) fn split_days(from: Option<Timestamp>, to: Option<Timestamp>) -> DaySplit {
    let empty = DaySplit {
        whole_days: None,
        pieces: [None, None],
    };
    let at_day_start = |t: Timestamp| t.nanos() as i128 == day_start_nanos(day_of(t));
    let at_day_end = |t: Timestamp| t == day_end(day_of(t));
    let first = from.map(|t| day_of(t) + i32::from(!at_day_start(t)));
    let last = to.map(|t| day_of(t) - i32::from(!at_day_end(t)));
    match (from, to) {
        (Some(from), Some(to)) if from > to => return empty,
        _ => {}
    }
    let Some(whole_days) = day_bounds(first, last) else {
        // No whole day inside: the range lies within two adjacent days, scan all of it.
        return DaySplit {
            pieces: [from.zip(to), None],
            ..empty
        };
    };
    let head = from
        .filter(|t| !at_day_start(*t))
        .zip(first)
        .map(|(t, day)| (t, clamp(day_start_nanos(day) - 1)));
    let tail = to
        .filter(|t| !at_day_end(*t))
        .zip(last)
        .map(|(t, day)| (clamp(day_start_nanos(day + 1)), t));
    DaySplit {
        whole_days: Some(whole_days),
        pieces: [head, tail],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn days_round_trip_through_dates_and_timestamps() {
        let date = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        let day = day_of_date(date);
        assert_eq!(date_of_day(day), date);
        assert_eq!(day_of(at("2024-01-02T23:59:59.999999999Z")), day);
        assert_eq!(day_of(at("2024-01-03T00:00:00Z")), day + 1);
        assert_eq!(day_of(at("1969-12-31T23:59:59Z")), -1);
        assert_eq!(day_end(day), at("2024-01-02T23:59:59.999999999Z"));
    }

    #[test]
    fn split_cuts_partial_days_off_both_ends() {
        let split = split_days(
            Some(at("2024-01-02T12:00:00Z")),
            Some(at("2024-01-05T06:00:00Z")),
        );
        let (d3, d4) = (
            day_of(at("2024-01-03T00:00:00Z")),
            day_of(at("2024-01-04T00:00:00Z")),
        );
        assert_eq!(
            split.whole_days,
            Some((Bound::Included(d3), Bound::Included(d4)))
        );
        assert_eq!(
            split.pieces,
            [
                Some((
                    at("2024-01-02T12:00:00Z"),
                    at("2024-01-02T23:59:59.999999999Z")
                )),
                Some((at("2024-01-05T00:00:00Z"), at("2024-01-05T06:00:00Z"))),
            ]
        );
    }

    #[test]
    fn split_of_whole_days_and_short_ranges() {
        let whole = split_days(
            Some(at("2024-01-02T00:00:00Z")),
            Some(at("2024-01-02T23:59:59.999999999Z")),
        );
        let d2 = day_of(at("2024-01-02T00:00:00Z"));
        assert_eq!(
            whole.whole_days,
            Some((Bound::Included(d2), Bound::Included(d2)))
        );
        assert_eq!(whole.pieces, [None, None]);
        let short = split_days(
            Some(at("2024-01-02T10:00:00Z")),
            Some(at("2024-01-03T10:00:00Z")),
        );
        assert_eq!(short.whole_days, None);
        assert_eq!(
            short.pieces[0],
            Some((at("2024-01-02T10:00:00Z"), at("2024-01-03T10:00:00Z")))
        );
        let reversed = split_days(
            Some(at("2024-01-03T00:00:00Z")),
            Some(at("2024-01-02T00:00:00Z")),
        );
        assert_eq!(reversed.whole_days, None);
        assert_eq!(reversed.pieces, [None, None]);
        let open = split_days(None, None);
        assert_eq!(open.whole_days, Some((Bound::Unbounded, Bound::Unbounded)));
        let extreme = split_days(Some(Timestamp::MAX), None);
        assert_eq!(extreme.pieces[0], Some((Timestamp::MAX, Timestamp::MAX)));
    }
}
