//! JSON Lines files: line splitting with a length limit, byte-order marks, UTF-8, blank lines.

use std::io::{self, BufRead};

use super::object::is_json_whitespace;
use super::{parse_event, FieldError, InputError};
use crate::model::event::Event;

/// The longest line accepted, in bytes, not counting its line ending (`\n` or `\r\n`).
///
/// The largest valid event (every text at its limit, each character escaped) is well under
/// half of this. A longer line is refused without being held in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Reads a whole JSON Lines file, stopping at the first refused line.
///
/// Returns each event with its 1-based line number. Blank lines (empty or only JSON
/// whitespace) are skipped but counted.
pub fn read_events<R: BufRead>(reader: R) -> Result<Vec<(u64, Event)>, InputError> {
    EventReader::new(reader).collect()
}

/// The events of a JSON Lines file, one by one, each with its 1-based line number.
///
/// After a refused line the reader goes on with the next one, so every error of a file can
/// be listed; after a read error from the underlying reader it stops.
pub struct EventReader<R> {
    reader: R,
    line: u64,
    buffer: Vec<u8>,
    finished: bool,
}

impl<R: BufRead> EventReader<R> {
    /// A reader of the JSON Lines in `reader`, from its first line on.
    pub fn new(reader: R) -> EventReader<R> {
        EventReader {
            reader,
            line: 0,
            buffer: Vec::new(),
            finished: false,
        }
    }

    /// The item of the next line; `None` for a blank line, or at the end (then `finished`).
    fn next_line(&mut self) -> Option<Result<(u64, Event), InputError>> {
        self.buffer.clear();
        self.line += 1;
        let line = self.line;
        let refused = |error: FieldError| Some(Err(error.at_line(line)));
        match read_line(&mut self.reader, &mut self.buffer, MAX_LINE_BYTES) {
            Ok(Line::End) => {
                self.finished = true;
                None
            }
            Ok(Line::TooLong) => refused(FieldError::whole_line(format!(
                "line longer than {MAX_LINE_BYTES} bytes"
            ))),
            Ok(Line::Complete) => match event_of_line(&self.buffer) {
                Ok(event) => event.map(|event| Ok((line, event))),
                Err(error) => refused(error),
            },
            Err(error) => {
                self.finished = true;
                refused(FieldError::whole_line(format!(
                    "cannot read the input: {error}"
                )))
            }
        }
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<(u64, Event), InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            if let Some(item) = self.next_line() {
                return Some(item);
            }
        }
        None
    }
}

/// The event on one line (its ending removed), `None` for a blank line.
fn event_of_line(bytes: &[u8]) -> Result<Option<Event>, FieldError> {
    if bytes.starts_with(BYTE_ORDER_MARK) {
        return Err(FieldError::whole_line(
            "starts with a UTF-8 byte-order mark (U+FEFF); save the file without it",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        FieldError::whole_line(format!(
            "invalid UTF-8 at byte {} of the line",
            error.valid_up_to() + 1
        ))
    })?;
    if text.chars().all(is_json_whitespace) {
        return Ok(None);
    }
    parse_event(text).map(Some)
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// End of input before any byte of a new line.
    End,
    /// A line, now in the buffer without its `\n` or `\r\n`.
    Complete,
    /// A line over the limit; it was consumed but not kept.
    TooLong,
}

/// Reads one line into `buffer`, keeping at most `max` bytes (plus a final `\r`) in memory.
fn read_line<R: BufRead>(reader: &mut R, buffer: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let newline = available.iter().position(|&b| b == b'\n');
        let content = &available[..newline.unwrap_or(available.len())];
        too_long = too_long || buffer.len() + content.len() > max + 1;
        if !too_long {
            buffer.extend_from_slice(content);
        }
        let used = content.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            break;
        }
    }
    if buffer.last() == Some(&b'\r') {
        buffer.pop();
    }
    Ok(match (read_any, too_long || buffer.len() > max) {
        (false, _) => Line::End,
        (true, true) => Line::TooLong,
        (true, false) => Line::Complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Line, Vec<u8>)> {
        // A tiny buffer makes lines cross buffer boundaries.
        let mut reader = io::BufReader::with_capacity(3, input);
        let mut found = Vec::new();
        loop {
            let mut buffer = Vec::new();
            let line = read_line(&mut reader, &mut buffer, max).unwrap();
            if line == Line::End {
                return found;
            }
            found.push((line, buffer));
        }
    }

    #[test]
    fn lines_split_on_lf_and_crlf() {
        let found = lines(b"ab\r\ncd\n\nlast", 10);
        let expected: Vec<(Line, Vec<u8>)> = vec![
            (Line::Complete, b"ab".to_vec()),
            (Line::Complete, b"cd".to_vec()),
            (Line::Complete, b"".to_vec()),
            (Line::Complete, b"last".to_vec()),
        ];
        assert_eq!(found, expected);
        assert!(lines(b"", 10).is_empty());
    }

    #[test]
    fn the_limit_excludes_the_line_ending() {
        let found = lines(b"12345\r\n123456\n12345", 5);
        let kinds: Vec<&Line> = found.iter().map(|(line, _)| line).collect();
        assert_eq!(kinds, [&Line::Complete, &Line::TooLong, &Line::Complete]);
        assert!(found[1].1.len() <= 6, "a long line is not kept");
    }

    #[test]
    fn a_long_line_is_not_kept_in_memory() {
        let mut input = vec![b'x'; 10 * MAX_LINE_BYTES];
        input.extend_from_slice(b"\n{}");
        let mut reader = io::BufReader::new(&input[..]);
        let mut buffer = Vec::new();
        let line = read_line(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap();
        assert_eq!(line, Line::TooLong);
        assert!(buffer.capacity() <= 2 * MAX_LINE_BYTES + 16);
        buffer.clear();
        let line = read_line(&mut reader, &mut buffer, MAX_LINE_BYTES).unwrap();
        assert_eq!((line, buffer), (Line::Complete, b"{}".to_vec()));
    }
}
