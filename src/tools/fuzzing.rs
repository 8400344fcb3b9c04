//! Harnesses that feed untrusted bytes to every decoder of the crate. Each one panics only
//! when a decoder breaks a promise (a panic inside the decoder, or an accepted input that does
//! not round-trip). The cargo-fuzz targets in `fuzz/` and the proptests in
//! `tests/fuzz_inputs.rs` both call them, so a crash found by the fuzzer is replayed in the
//! normal test suite by adding its input to `tests/fuzz_inputs.rs`.

use std::path::Path;

use crate::ledger::checkpoint;
use crate::model::codec;
use crate::model::event::Timestamp;
use crate::model::interchange;
use crate::projection::{Projections, TimeBasis, TimeRange, TradeFilter};
use crate::storage::format::{
    frame_size, read_frame, segment_file_name, write_frame, ChainLink, Durability, FrameHeader,
    JournalMeta, SegmentHeader, Watermark, CHAIN_AT, FLAG_BATCH_END, FORMAT_VERSION,
    PAYLOAD_SIZE_MAX, SEGMENT_HEADER_SIZE, WATERMARK_AT,
};
use crate::storage::scan::scan_segment;

/// The journal id of every fuzzed folder and checkpoint.
pub const FUZZ_JOURNAL_ID: [u8; 16] = *b"fuzzing-journal!";

/// Little-endian reads that run out gracefully.
struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

/// `codec::decode` and `format::read_frame`: arbitrary bytes as a frame, and as a payload of
/// every kind, codec and schema; frames built around fuzzed payloads must read back.
pub fn record_decoder(data: &[u8]) {
    let mut input = Bytes { data };
    let seed = input.u32();
    let kind = input.u16() % 12;
    let codec_id = input.u8() % 3;
    let schema = input.u8() % 4;
    let rest = input.rest();
    if let Ok(frame) = read_frame(rest, seed) {
        assert!(frame.size <= rest.len() && frame.size % 8 == 0);
        let h = frame.header;
        let _ = codec::decode(h.kind, h.codec, h.schema, frame.payload);
    }
    if let Ok(event) = codec::decode(kind, codec_id, schema, rest) {
        // Whatever decodes re-encodes to a payload that decodes to the same event.
        let mut again = Vec::new();
        let (kind, schema) = codec::encode(&event, &mut again);
        let decoded = codec::decode(kind as u16, codec::CODEC_POSTCARD, schema, &again)
            .expect("an encoded event decodes");
        assert!(
            same_event(&decoded, &event),
            "{event:?} changed to {decoded:?}"
        );
    }
    let payload = &rest[..rest.len().min(PAYLOAD_SIZE_MAX)];
    let header = FrameHeader {
        seq: u64::from(seed),
        recorded_at: Timestamp::from_nanos(i64::from(seed)),
        durable_seq: 0,
        kind,
        codec: codec_id,
        schema,
        flags: FLAG_BATCH_END,
    };
    let mut frame = vec![0u8; frame_size(payload.len())];
    write_frame(&mut frame, &header, payload, seed);
    let read = read_frame(&frame, seed).expect("a written frame reads back");
    assert_eq!(read.header, header);
    assert_eq!(read.payload, payload);
    let _ = codec::decode(kind, codec_id, schema, read.payload);
}

/// Events compared with NaN-tolerant float equality (a NaN confidence can be decoded).
fn same_event(a: &crate::Event, b: &crate::Event) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// `scan::scan_segment` on arbitrary bytes, and on segments of valid frames damaged at
/// fuzzed places: the scan never panics and its findings are consistent.
pub fn segment_scanner(data: &[u8]) {
    let mut input = Bytes { data };
    let seed = input.u32();
    // Headers never carry 0 (`SegmentHeader::decode`) nor more than `recovery::SEQ_MAX`.
    let first_seq = (input.u64() % crate::storage::recovery::SEQ_MAX).max(1);
    let raw_len = usize::from(input.u8()) * 64;
    let raw = input.take(raw_len);
    check_scan(&padded(raw), first_seq, seed);
    let (image, _) = built_segment(&mut input, first_seq, seed);
    check_scan(&image, first_seq, seed);
}

/// A header page (zeros) followed by `body`.
fn padded(body: &[u8]) -> Vec<u8> {
    let mut image = vec![0u8; SEGMENT_HEADER_SIZE];
    image.extend_from_slice(body);
    image
}

fn check_scan(image: &[u8], first_seq: u64, seed: u32) {
    let scan = scan_segment(image, first_seq, seed);
    assert!(scan.committed_end <= scan.stop_offset && scan.stop_offset <= image.len());
    assert!(scan.committed_end <= scan.dirty_end && scan.dirty_end <= image.len());
    assert_eq!(scan.last_seq + 1, first_seq + scan.records);
    if let Some(later) = scan.later {
        assert!(later.offset >= scan.stop_offset && later.seq > scan.last_seq);
    }
}

/// A segment image of valid frames (batches of fuzzed sizes and payloads) after a header page,
/// then damaged: fuzzed bytes written at fuzzed offsets. Returns the image and its frame count.
fn built_segment(input: &mut Bytes<'_>, first_seq: u64, seed: u32) -> (Vec<u8>, u64) {
    let frames = usize::from(input.u8() % 24);
    let mut image = vec![0u8; SEGMENT_HEADER_SIZE];
    let mut seq = first_seq;
    let mut batch_left = 0u8;
    for _ in 0..frames {
        if seq == u64::MAX {
            break;
        }
        if batch_left == 0 {
            batch_left = 1 + input.u8() % 4;
        }
        batch_left -= 1;
        let len = usize::from(input.u8() % 96);
        let payload = input.take(len).to_vec();
        let header = FrameHeader {
            seq,
            recorded_at: Timestamp::from_nanos(seq as i64),
            durable_seq: u64::from(input.u8()) % seq.max(1),
            kind: 1 + u16::from(input.u8() % 9),
            codec: codec::CODEC_POSTCARD,
            schema: 1,
            flags: if batch_left == 0 { FLAG_BATCH_END } else { 0 },
        };
        let at = image.len();
        image.resize(at + frame_size(payload.len()), 0);
        write_frame(&mut image[at..], &header, &payload, seed);
        seq += 1;
    }
    image.resize(image.len() + 8 * usize::from(input.u8() % 32), 0);
    let damages = input.u8() % 4;
    for _ in 0..damages {
        let at = SEGMENT_HEADER_SIZE
            + usize::from(input.u16()) % (image.len() - SEGMENT_HEADER_SIZE + 1);
        let len = 1 + usize::from(input.u8() % 16);
        let bytes = input.take(len);
        let end = (at + bytes.len()).min(image.len());
        image[at..end].copy_from_slice(&bytes[..end - at]);
    }
    (image, seq - first_seq)
}

/// Opens a journal folder built from fuzzed bytes, read-only: `journal.meta` is valid; one to
/// three segment files have headers, chain links and watermarks made of fuzzed fields (often
/// valid, so the open goes deep) and bodies of valid frames with fuzzed damage. Reading every
/// record and verifying must end with records or an error, never a panic. `dir` is emptied
/// and reused.
pub fn journal_folder(data: &[u8], dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create the fuzz folder");
    let meta = JournalMeta {
        format_version: FORMAT_VERSION,
        durability: Durability::Buffered,
        segment_size_bytes: 64 << 10,
        journal_id: FUZZ_JOURNAL_ID,
        created_at: Timestamp::from_nanos(0),
        checkpoint_every_records: 0,
        flags: 0,
    };
    std::fs::write(dir.join("journal.meta"), meta.encode()).expect("write journal.meta");
    let seed = meta.frame_seed();
    let mut input = Bytes { data };
    let segments = 1 + input.u8() % 3;
    let mut first_seq = 1u64;
    let mut previous: Option<(Vec<u8>, u64, u64)> = None;
    for index in 0..u64::from(segments) {
        let choice = input.u8();
        let (mut image, frames) = built_segment(&mut input, first_seq, seed);
        let header = SegmentHeader {
            format_version: FORMAT_VERSION,
            journal_id: FUZZ_JOURNAL_ID,
            first_seq: if choice & 1 == 0 {
                first_seq
            } else {
                input.u64().max(1)
            },
            index: if choice & 2 == 0 { index } else { input.u64() },
            capacity_bytes: image.len() as u64,
            created_at: Timestamp::from_nanos(0),
        };
        image[..CHAIN_AT].copy_from_slice(&header.encode());
        let link = match (&previous, choice & 12) {
            (None, 0) => Some(ChainLink::GENESIS),
            (Some((bytes, end, last)), 0 | 4) => {
                let end = (*end as usize).min(bytes.len());
                Some(ChainLink {
                    prev_hash: crate::storage::segment::hash_prefix(bytes, end),
                    prev_data_end: end as u64,
                    prev_last_seq: *last,
                })
            }
            (_, 8) => None,
            _ => Some(ChainLink {
                prev_hash: [input.u8(); 32],
                prev_data_end: input.u64(),
                prev_last_seq: input.u64(),
            }),
        };
        if let Some(link) = link {
            image[CHAIN_AT..CHAIN_AT + 64].copy_from_slice(&link.encode());
        }
        if choice & 16 != 0 {
            let watermark = Watermark {
                durable_seq: input.u64() % first_seq.saturating_add(frames).saturating_add(2),
                durable_end: input.u64() % (image.len() as u64 + 1),
            };
            image[WATERMARK_AT..WATERMARK_AT + 20].copy_from_slice(&watermark.encode());
        }
        if choice & 32 != 0 {
            let at = usize::from(input.u16()) % SEGMENT_HEADER_SIZE;
            image[at] ^= input.u8() | 1;
        }
        let scan = scan_segment(&image, header.first_seq, seed);
        std::fs::write(dir.join(segment_file_name(header.first_seq)), &image)
            .expect("write a fuzzed segment");
        previous = Some((image, scan.committed_end as u64, scan.last_seq));
        first_seq = scan.last_seq.saturating_add(1);
    }
    if let Ok(reader) = crate::storage::reader::JournalReader::open(dir) {
        let mut expected = None;
        for record in reader.records(1) {
            match record {
                Ok(record) => {
                    if let Some(seq) = expected {
                        assert_eq!(record.seq, seq, "records run in sequence");
                    }
                    expected = Some(record.seq + 1);
                }
                Err(_) => break,
            }
        }
        let _ = reader.head_seq();
    }
    let _ = crate::storage::verify::verify(dir);
}

/// `Projections::decode_layers` on a stack of two payloads (a layer on a state written
/// whole), either of them damaged: refused, or a state that answers every query.
pub fn checkpoint_stack(bottom: &[u8], top: &[u8]) {
    if let Ok(state) = Projections::decode_layers(vec![bottom.to_vec(), top.to_vec()]) {
        query_everything(&state);
    }
}

/// `checkpoint::read_header` and `Projections::decode_state`: on arbitrary bytes, and on
/// fuzzed payloads behind a valid header; a decoded state answers every query.
pub fn checkpoint_loader(data: &[u8]) {
    let path = Path::new("fuzzed.ckpt");
    let _ = checkpoint::read_header(path, data, &FUZZ_JOURNAL_ID);
    if let Ok(state) = Projections::decode_state(data.to_vec()) {
        query_everything(&state);
        // A forged state may hold records that do not read back (they are errors, not
        // panics); one that writes out must load again.
        if let Ok(bytes) = state.encode_state() {
            if let Ok(again) = Projections::decode_state(bytes) {
                assert_eq!(again.head_seq(), state.head_seq());
            }
        }
    }
    let image = checkpoint::image(&FUZZ_JOURNAL_ID, 0, data);
    let info = checkpoint::read_header(path, &image, &FUZZ_JOURNAL_ID)
        .expect("a well-formed header is accepted");
    assert_eq!(info.bytes, image.len() as u64);
}

fn query_everything(state: &Projections) {
    let _ = state.trades(&TradeFilter::default());
    let _ = state.open_trades(None, None);
    let _ = state.pending_trades();
    let _ = state.max_ticket();
    let _ = state.max_signal_id();
    let _ = state.trade_statistics(TimeRange::ALL, TimeBasis::Exit, None, None);
    let _ = state.trade_statistics(TimeRange::ALL, TimeBasis::Entry, None, None);
    let _ = state.recent_signals(None, 10);
    let _ = state.signal_execution_rate(None);
    for account in state.snapshot_accounts().unwrap_or_default() {
        let _ = state.latest_snapshot(account);
        let _ = state.snapshots_between(account, TimeRange::ALL);
    }
    let _ = state.daily_performance(None, None, None);
    let _ = state.performance_summary(None, None, None);
}

/// `interchange::read_events`: arbitrary bytes as a JSON Lines file. Every accepted event
/// passes the contract's stateless rules (which the library's appends check again) and
/// writes back to a line that reads as the same event.
pub fn jsonl_importer(data: &[u8]) {
    match interchange::read_events(data) {
        Ok(events) => {
            for (line, event) in events {
                assert!(line >= 1);
                if let Err(violation) = crate::model::contract::validate(&event) {
                    panic!("line {line} was accepted but breaks {violation}");
                }
                let mut text = String::new();
                interchange::write_event(&mut text, &event, None, None);
                let again = interchange::parse_event(&text)
                    .unwrap_or_else(|e| panic!("{text} was written but is refused: {e}"));
                assert!(same_event(&again, &event), "{event:?} changed to {again:?}");
            }
        }
        Err(error) => {
            assert!(error.line >= 1);
            assert!(!error.to_string().is_empty());
        }
    }
}
