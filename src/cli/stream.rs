//! Rows written as they are read, so that memory does not grow with the journal: the
//! `--jsonl` lines of the list commands (one §5 object a line) and their `--json` array,
//! written element by element with the same bytes as the array serialized at once.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use tradeledger::projection::QueryError;

/// How rows are printed as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One JSON array on one line (`--json`): `[` + the objects separated by `,` + `]`.
    Array,
    /// One object a line (`--jsonl`); no rows, no lines.
    Lines,
}

impl Shape {
    /// The shape asked for, if any: `--jsonl` or `--json`.
    pub fn chosen(json: bool, jsonl: bool) -> Option<Shape> {
        match (jsonl, json) {
            (true, _) => Some(Shape::Lines),
            (false, true) => Some(Shape::Array),
            (false, false) => None,
        }
    }
}

/// Writes `rows` to stdout in `shape`, each as soon as it is read (the first one flushed at
/// once, the rest buffered). A closed stdout is an error whose cause is the `BrokenPipe`
/// I/O error, which the command line ends quietly on.
pub fn print_rows<T: Serialize>(
    rows: impl Iterator<Item = Result<T, QueryError>>,
    shape: Shape,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    write_rows(&mut out, rows, shape)?;
    out.flush().context("write to stdout")
}

/// [`print_rows`] into any writer.
pub fn write_rows<T: Serialize, W: Write>(
    out: &mut W,
    rows: impl Iterator<Item = Result<T, QueryError>>,
    shape: Shape,
) -> anyhow::Result<()> {
    // Before the rows, between two rows, after each row, after the rows.
    let (open, separator, end_of_row, close): (&[u8], &[u8], &[u8], &[u8]) = match shape {
        Shape::Array => (b"[", b",", b"", b"]\n"),
        Shape::Lines => (b"", b"", b"\n", b""),
    };
    let mut first = true;
    let mut write_row = |out: &mut W, row: &T| -> std::io::Result<()> {
        if !first {
            out.write_all(separator)?;
        }
        // A failed write comes back as the writer's own I/O error (its kind kept).
        serde_json::to_writer(&mut *out, row).map_err(std::io::Error::from)?;
        out.write_all(end_of_row)?;
        if first {
            first = false;
            out.flush()?;
        }
        Ok(())
    };
    out.write_all(open).context("write to stdout")?;
    for row in rows {
        write_row(out, &row?).context("write to stdout")?;
    }
    out.write_all(close).context("write to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(rows: &[serde_json::Value], shape: Shape) -> String {
        let mut out = Vec::new();
        write_rows(&mut out, rows.iter().map(Ok), shape).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The array is written with the bytes of the whole list serialized at once, and the
    /// lines are its elements.
    #[test]
    fn the_array_and_the_lines_hold_the_same_objects() {
        let rows = [
            serde_json::json!({"a": 1, "b": "x,y"}),
            serde_json::json!({"a": null, "b": [1, 2]}),
            serde_json::json!({}),
        ];
        for count in 0..=rows.len() {
            let rows = &rows[..count];
            let mut whole = serde_json::to_string(rows).unwrap();
            whole.push('\n');
            assert_eq!(written(rows, Shape::Array), whole);
            let lines: String = rows.iter().map(|row| format!("{row}\n")).collect();
            assert_eq!(written(rows, Shape::Lines), lines);
        }
    }
}
