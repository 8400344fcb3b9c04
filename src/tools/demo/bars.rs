//! OHLCV bars from a CSV file in the layout of `fixtures/eurusd_h1_2017_2018.csv`:
//!
//! ```text
//! ,Open,High,Low,Close,Volume
//! 2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413
//! ```
//!
//! The first column is the bar's **open** time, written without an offset; it is read as UTC
//! (the data source exports UTC). Prices are bid prices and are kept exactly as written.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;

use crate::model::event::Timestamp;

/// The column names after the (unnamed) time column, in order.
const PRICE_COLUMNS: [&str; 5] = ["Open", "High", "Low", "Close", "Volume"];
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One bar: prices are bid prices, `time` is the bar's open time (UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub time: Timestamp,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: u64,
}

/// Why a bar file could not be read: the 1-based line, the column (1-based index and header
/// name) when the problem is in one cell, and the reason.
#[derive(Debug, thiserror::Error)]
pub enum BarsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}{}: {reason}", column_text(.column))]
    Invalid {
        line: usize,
        /// 1-based column index and its name (`time` for the unnamed first column).
        column: Option<(usize, &'static str)>,
        reason: String,
    },
}

fn column_text(column: &Option<(usize, &'static str)>) -> String {
    match column {
        Some((index, name)) => format!(", column {index} ({name})"),
        None => String::new(),
    }
}

fn invalid(line: usize, column: Option<usize>, reason: impl Into<String>) -> BarsError {
    let column = column.map(|index| {
        let name = match index {
            1 => "time",
            _ => PRICE_COLUMNS[index - 2],
        };
        (index, name)
    });
    BarsError::Invalid {
        line,
        column,
        reason: reason.into(),
    }
}

/// Reads the bars of the CSV file at `path`; with `limit`, only the first `limit` bars (lines
/// after them are not read, so they cannot cause an error).
pub fn load_bars(path: &Path, limit: Option<usize>) -> Result<Vec<Bar>, BarsError> {
    let contents = std::fs::read_to_string(path).map_err(|source| BarsError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_bars(&contents, limit)
}

/// Parses CSV `contents` (header line first); with `limit`, only the first `limit` bars.
///
/// Every bar must have `low ≤ open, close ≤ high`, positive prices, and a time later than
/// the previous bar's: the simulation relies on time moving forward.
pub fn parse_bars(contents: &str, limit: Option<usize>) -> Result<Vec<Bar>, BarsError> {
    let mut lines = contents.lines().enumerate().map(|(i, text)| (i + 1, text));
    let (_, header) = lines
        .next()
        .ok_or_else(|| invalid(1, None, "empty file: expected a header line"))?;
    check_header(header)?;
    let mut bars: Vec<Bar> = Vec::new();
    for (line, text) in lines {
        if limit.is_some_and(|limit| bars.len() >= limit) {
            break;
        }
        if text.trim().is_empty() {
            continue;
        }
        let bar = parse_line(line, text)?;
        if let Some(previous) = bars.last() {
            if bar.time <= previous.time {
                let reason = format!("time {} is not after the previous bar's", bar.time);
                return Err(invalid(line, Some(1), reason));
            }
        }
        bars.push(bar);
    }
    Ok(bars)
}

fn check_header(header: &str) -> Result<(), BarsError> {
    let names: Vec<&str> = header.trim_end_matches('\r').split(',').collect();
    let expected = names.len() == 6
        && names[1..]
            .iter()
            .zip(PRICE_COLUMNS)
            .all(|(got, want)| got.trim().eq_ignore_ascii_case(want));
    if expected {
        Ok(())
    } else {
        let reason = format!("expected the header \",Open,High,Low,Close,Volume\", got {header:?}");
        Err(invalid(1, None, reason))
    }
}

fn parse_line(line: usize, text: &str) -> Result<Bar, BarsError> {
    let cells: Vec<&str> = text.trim_end_matches('\r').split(',').collect();
    if cells.len() != 6 {
        let reason = format!("expected 6 comma-separated values, got {}", cells.len());
        return Err(invalid(line, None, reason));
    }
    let time = parse_time(line, cells[0])?;
    let price = |index: usize| parse_price(line, index + 1, cells[index]);
    let (open, high, low, close) = (price(1)?, price(2)?, price(3)?, price(4)?);
    let volume = cells[5]
        .trim()
        .parse::<u64>()
        .map_err(|_| invalid(line, Some(6), format!("not a whole number: {:?}", cells[5])))?;
    if high < open.max(close) || high < low {
        return Err(invalid(line, Some(3), "high is below open, close or low"));
    }
    if low > open.min(close) {
        return Err(invalid(line, Some(4), "low is above open or close"));
    }
    Ok(Bar {
        time,
        open,
        high,
        low,
        close,
        volume,
    })
}

fn parse_time(line: usize, cell: &str) -> Result<Timestamp, BarsError> {
    let naive = NaiveDateTime::parse_from_str(cell.trim(), TIME_FORMAT).map_err(|_| {
        let reason = format!("expected a time like 2017-04-19 09:00:00 (UTC), got {cell:?}");
        invalid(line, Some(1), reason)
    })?;
    Timestamp::from_datetime(naive.and_utc())
        .ok_or_else(|| invalid(line, Some(1), "time outside 1677..2262"))
}

fn parse_price(line: usize, column: usize, cell: &str) -> Result<Decimal, BarsError> {
    match Decimal::from_str(cell.trim()) {
        Ok(price) if price > Decimal::ZERO => Ok(price),
        Ok(_) => Err(invalid(
            line,
            Some(column),
            format!("not positive: {cell:?}"),
        )),
        Err(_) => Err(invalid(
            line,
            Some(column),
            format!("not a decimal: {cell:?}"),
        )),
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} O {} H {} L {} C {} V {}",
            self.time, self.open, self.high, self.low, self.close, self.volume
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/eurusd_h1_2017_2018.csv"
    );

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn fixture_loads_all_bars_exactly() {
        let bars = load_bars(Path::new(FIXTURE), None).unwrap();
        assert_eq!(bars.len(), 5000);
        let first = &bars[0];
        assert_eq!(first.time.to_string(), "2017-04-19T09:00:00Z");
        assert_eq!(
            (first.open, first.high, first.low, first.close, first.volume),
            (
                dec("1.0716"),
                dec("1.0722"),
                dec("1.07083"),
                dec("1.07219"),
                1413
            )
        );
        let last = &bars[4999];
        assert_eq!(last.time.to_string(), "2018-02-07T15:00:00Z");
        assert_eq!(
            (last.open, last.high, last.low, last.close, last.volume),
            (
                dec("1.23427"),
                dec("1.23444"),
                dec("1.22904"),
                dec("1.22904"),
                6143
            )
        );
    }

    #[test]
    fn limit_takes_the_first_bars_and_ignores_the_rest() {
        let text = ",Open,High,Low,Close,Volume\n\
            2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n\
            2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1241\n\
            garbage\n";
        let bars = parse_bars(text, Some(2)).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].close, dec("1.0726"));
        let error = parse_bars(text, None).unwrap_err().to_string();
        assert_eq!(error, "line 4: expected 6 comma-separated values, got 1");
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let header = ",Open,High,Low,Close,Volume\n";
        let cases = [
            (
                "2017-04-19 09:00:00,1.07,1.08,1.06,x,5",
                "line 2, column 5 (Close): not a decimal: \"x\"",
            ),
            (
                "2017-04-19T09:00:00Z,1.07,1.08,1.06,1.07,5",
                "line 2, column 1 (time): expected a time like 2017-04-19 09:00:00 (UTC), \
                 got \"2017-04-19T09:00:00Z\"",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.08,1.06,1.07,1.5",
                "line 2, column 6 (Volume): not a whole number: \"1.5\"",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.065,1.06,1.07,5",
                "line 2, column 3 (High): high is below open, close or low",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.08,0,1.07,5",
                "line 2, column 4 (Low): not positive: \"0\"",
            ),
        ];
        for (line, expected) in cases {
            let error = parse_bars(&format!("{header}{line}\n"), None).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
        let backwards = format!(
            "{header}2017-04-19 10:00:00,1.07,1.08,1.06,1.07,5\n\
             2017-04-19 09:00:00,1.07,1.08,1.06,1.07,5\n"
        );
        let error = parse_bars(&backwards, None).unwrap_err().to_string();
        assert!(
            error.starts_with("line 3, column 1 (time): time 2017-04-19T09:00:00Z is not after")
        );
        let error = parse_bars("time,o,h,l,c,v\n", None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("line 1: expected the header"), "{error}");
    }
}
