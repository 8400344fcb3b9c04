//! The list commands over several journals (the firm-wide view): each journal's rows, already
//! in the list's order, merged by the list's key, ties going to the journal named first; each
//! row says which journal it comes from (tickets and signal ids are unique within one journal
//! only).

use serde::Serialize;
use tradeledger::projection::{QueryError, Rows};

/// A row with the journal it comes from: the row's fields, then `"journal"`.
#[derive(Serialize)]
pub struct InJournal<'a, T> {
    #[serde(flatten)]
    pub row: T,
    pub journal: &'a str,
}

/// The rows of `sources` (each in `key` order) as one list in `key` order, each with the
/// index of its source; on a tie, the source named first. Ends after the first error.
pub fn merged<'a, T: 'a, K: Ord>(
    sources: Vec<Rows<'a, T>>,
    key: impl Fn(&T) -> K + 'a,
) -> impl Iterator<Item = Result<(usize, T), QueryError>> + 'a {
    let mut sources: Vec<_> = sources.into_iter().map(Iterator::peekable).collect();
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let mut next: Option<(usize, K)> = None;
        for (index, source) in sources.iter_mut().enumerate() {
            match source.peek() {
                None => {}
                Some(Err(_)) => {
                    failed = true;
                    return source.next().map(|row| row.map(|row| (index, row)));
                }
                Some(Ok(row)) => {
                    let candidate = key(row);
                    if next.as_ref().is_none_or(|(_, best)| candidate < *best) {
                        next = Some((index, candidate));
                    }
                }
            }
        }
        let (index, _) = next?;
        sources[index].next().map(|row| row.map(|row| (index, row)))
    })
}
