//! Human-readable output: aligned tables and `name  value` lists.
//!
//! Money and derived ratios are rounded to 2 places here (and only here: `--json` prints them
//! exactly). Prices, volumes and pips are shown as stored, since rounding a price of 1.10450
//! to 1.10 would hide the information a reader looks for.

use std::fmt::Display;

use anyhow::Context;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::Serialize;
use serde_json::Value;

/// How a column is aligned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table: a header row and rows of cells, printed with columns padded to their widest cell.
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[(&'static str, Align)]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Puts a column before the others: `header`, and one cell per row.
    pub fn prepend_column(&mut self, header: &'static str, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.rows.len());
        self.headers.insert(0, (header, Align::Left));
        for (row, cell) in self.rows.iter_mut().zip(cells) {
            row.insert(0, cell);
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            widen(&mut widths, row);
        }
        let headers: Vec<String> = self.headers.iter().map(|(h, _)| h.to_string()).collect();
        let mut out = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            self.line(&mut out, row, &widths);
        }
        out
    }

    /// Appends `row`, its cells padded to `widths`.
    fn line(&self, out: &mut String, row: &[String], widths: &[usize]) {
        let cells = row.iter().zip(widths).zip(&self.headers);
        let padded: Vec<String> = cells
            .map(|((cell, w), (_, align))| pad(cell, *w, *align))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }

    /// Writes the table to `out` as its rows come, and returns how many there were (nothing
    /// is written for none). The first [`ALIGNED_ROWS`] rows are aligned together, as
    /// [`Table::render`] aligns them all; a later cell wider than its column widens the column
    /// from its row on. Memory: those rows, then one.
    pub fn write_streaming(
        mut self,
        rows: impl Iterator<Item = anyhow::Result<Vec<String>>>,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<usize> {
        let mut rows = rows.peekable();
        while self.rows.len() < ALIGNED_ROWS {
            match rows.next() {
                Some(row) => self.rows.push(row?),
                None => break,
            }
        }
        let mut count = self.rows.len();
        if count == 0 {
            return Ok(0);
        }
        let write = |out: &mut dyn std::io::Write, text: &str| {
            out.write_all(text.as_bytes()).context("write to stdout")
        };
        write(out, &self.render())?;
        out.flush().context("write to stdout")?;
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        self.rows.iter().for_each(|row| widen(&mut widths, row));
        let mut text = String::new();
        for row in rows {
            let row = row?;
            widen(&mut widths, &row);
            text.clear();
            self.line(&mut text, &row, &widths);
            write(out, &text)?;
            count += 1;
        }
        Ok(count)
    }
}

/// Rows a streamed table aligns together before it prints ([`Table::write_streaming`]).
pub const ALIGNED_ROWS: usize = 1000;

/// Widens `widths` to the cells of `row`.
fn widen(widths: &mut [usize], row: &[String]) {
    for (w, cell) in widths.iter_mut().zip(row) {
        *w = (*w).max(width(cell));
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

fn pad(text: &str, to: usize, align: Align) -> String {
    let fill = " ".repeat(to.saturating_sub(width(text)));
    match align {
        Align::Left => format!("{text}{fill}"),
        Align::Right => format!("{fill}{text}"),
    }
}

/// `name  value` lines, the names padded to the longest.
pub fn pairs(rows: &[(&str, String)]) -> String {
    let longest = rows.iter().map(|(name, _)| width(name)).max().unwrap_or(0);
    let mut out = String::new();
    for (name, value) in rows {
        out.push_str(pad(name, longest, Align::Left).as_str());
        out.push_str("  ");
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// Money or a ratio, rounded half away from zero to 2 places: `1234.5` → `1234.50`.
pub fn money(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    rounded.to_string()
}

pub fn opt_money(value: Option<Decimal>) -> String {
    value.map_or_else(|| "-".into(), money)
}

/// A price, volume or pip count as stored (a negative zero shows as zero).
pub fn exact(value: Decimal) -> String {
    let mut value = value;
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    value.to_string()
}

pub fn opt_exact(value: Option<Decimal>) -> String {
    value.map_or_else(|| "-".into(), exact)
}

pub fn opt<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

pub fn percent(value: Decimal) -> String {
    format!("{} %", money(value))
}

/// Every field of a §5 object as `name  value` lines, in the object's order, values exact.
pub fn object<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let text = serde_json::to_string(value)?;
    let fields: OrderedFields = serde_json::from_str(&text)?;
    let rows: Vec<(&str, String)> = fields
        .0
        .iter()
        .map(|(name, value)| (name.as_str(), value_text(value)))
        .collect();
    Ok(pairs(&rows))
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The fields of a JSON object in their written order (`serde_json::Map` sorts them).
struct OrderedFields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = OrderedFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    fields.push(entry);
                }
                Ok(OrderedFields(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn money_rounds_half_away_from_zero_to_two_places() {
        assert_eq!(money(dec("2.345")), "2.35");
        assert_eq!(money(dec("-2.345")), "-2.35");
        assert_eq!(money(dec("66.666666666666666666666666667")), "66.67");
        assert_eq!(money(dec("5")), "5.00");
        assert_eq!(money(dec("-0.001")), "0.00");
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&[("name", Align::Left), ("n", Align::Right)]);
        table.row(vec!["a".into(), "10".into()]);
        table.row(vec!["long".into(), "5".into()]);
        assert_eq!(table.render(), "name   n\na     10\nlong   5\n");
    }

    /// A streamed table of at most `ALIGNED_ROWS` rows is the rendered one; past them, a
    /// wider cell widens its column from its row on.
    #[test]
    fn streamed_tables_align_their_first_rows_together() {
        let headers = [("name", Align::Left), ("n", Align::Right)];
        let rows = |count: usize| (0..count).map(|i| vec![format!("r{i}"), i.to_string()]);
        let streamed = |count: usize| {
            let mut out = Vec::new();
            let written = Table::new(&headers)
                .write_streaming(rows(count).map(Ok), &mut out)
                .unwrap();
            assert_eq!(written, count);
            String::from_utf8(out).unwrap()
        };
        for count in [0, 1, 2, ALIGNED_ROWS] {
            let mut table = Table::new(&headers);
            rows(count).for_each(|row| table.row(row));
            let expected = if count == 0 {
                String::new()
            } else {
                table.render()
            };
            assert_eq!(streamed(count), expected, "{count} rows");
        }
        let text = streamed(ALIGNED_ROWS + 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), ALIGNED_ROWS + 2);
        assert_eq!(lines[ALIGNED_ROWS], "r999  999");
        assert_eq!(lines[ALIGNED_ROWS + 1], "r1000  1000");
    }

    #[test]
    fn objects_keep_their_field_order() {
        #[derive(Serialize)]
        struct Row {
            zeta: u32,
            alpha: Option<u32>,
        }
        let text = object(&Row {
            zeta: 1,
            alpha: None,
        })
        .unwrap();
        assert_eq!(text, "zeta   1\nalpha  -\n");
    }
}
