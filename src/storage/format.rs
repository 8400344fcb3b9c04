//! Byte layouts of everything on disk (`docs/FORMAT.md`). Pure: no I/O.
//!
//! Offsets are chained constants so that each field's position follows from the one before
//! it; the compile-time assertions pin the sizes the spec states. All integers little-endian.

use crate::model::event::Timestamp;

/// The on-disk format version written by this build (`docs/FORMAT.md` §1, version log).
pub const FORMAT_VERSION: u32 = 1;

/// Every frame starts at a multiple of this (`docs/FORMAT.md` §4).
pub const FRAME_ALIGN: usize = 8;

/// Rounds `n` up to the frame alignment.
pub const fn align_up(n: usize) -> usize {
    (n + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn crc(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

// ---------------------------------------------------------------------------------------------
// §2 The journal file `journal.meta`
// ---------------------------------------------------------------------------------------------

pub const META_MAGIC: [u8; 8] = *b"TLJOURNL";
pub const META_SIZE: usize = 128;
const META_MAGIC_AT: usize = 0;
const META_VERSION_AT: usize = META_MAGIC_AT + 8;
const META_DURABILITY_AT: usize = META_VERSION_AT + 4;
const META_PERIOD_AT: usize = META_DURABILITY_AT + 4;
const META_SEGMENT_SIZE_AT: usize = META_PERIOD_AT + 8;
const META_JOURNAL_ID_AT: usize = META_SEGMENT_SIZE_AT + 8;
const META_CREATED_AT: usize = META_JOURNAL_ID_AT + 16;
const META_CHECKPOINT_EVERY_AT: usize = META_CREATED_AT + 8;
const META_FLAGS_AT: usize = META_CHECKPOINT_EVERY_AT + 8;
const META_RESERVED_AT: usize = META_FLAGS_AT + 4;
const META_CRC_AT: usize = META_SIZE - 4;
const _: () = assert!(META_RESERVED_AT == 68 && META_CRC_AT == 124);

/// Flag bit in `journal.meta`: the journal was written by `tradeledger demo` and may be
/// replaced by the next demo run.
pub const META_FLAG_DEMO: u32 = 1;

/// How appends are made durable (`docs/FORMAT.md` §2, `README.md` "Durability").
///
/// Non-exhaustive: a later format may add a mode, so a `match` needs a catch-all arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Appends land in mapped memory only: they survive a crash of the process (kill -9),
    /// not a crash of the machine, until the next roll or close syncs them.
    Buffered,
    /// Every append returns after its bytes are on stable storage; concurrent appends share
    /// one flush (group commit).
    Sync,
    /// Appends land in mapped memory; a background flush every `interval_ms` makes them
    /// durable. A power loss loses at most the last interval.
    Periodic {
        /// Milliseconds between two background flushes, above zero.
        interval_ms: u32,
    },
}

impl Durability {
    fn code(self) -> (u32, u64) {
        match self {
            Durability::Buffered => (0, 0),
            Durability::Sync => (1, 0),
            Durability::Periodic { interval_ms } => (2, interval_ms as u64),
        }
    }

    fn from_code(code: u32, period: u64) -> Option<Durability> {
        match (code, u32::try_from(period)) {
            (0, _) => Some(Durability::Buffered),
            (1, _) => Some(Durability::Sync),
            (2, Ok(interval_ms)) if interval_ms > 0 => Some(Durability::Periodic { interval_ms }),
            _ => None,
        }
    }

    /// Parses `buffered`, `sync` or `periodic:<ms>` (e.g. `periodic:100`).
    pub fn parse(text: &str) -> Option<Durability> {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "buffered" => Some(Durability::Buffered),
            "sync" => Some(Durability::Sync),
            _ => {
                let ms = lower.strip_prefix("periodic:")?.trim_end_matches("ms");
                let interval_ms = ms.parse().ok().filter(|ms| *ms > 0)?;
                Some(Durability::Periodic { interval_ms })
            }
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Durability::Buffered => f.write_str("buffered"),
            Durability::Sync => f.write_str("sync"),
            Durability::Periodic { interval_ms } => write!(f, "periodic:{interval_ms}"),
        }
    }
}

/// The settings a journal keeps about itself, in `journal.meta` (`docs/FORMAT.md` §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalMeta {
    /// The version of the on-disk format the journal is written in.
    pub format_version: u32,
    /// How appends are made durable.
    pub durability: Durability,
    /// The size of each new segment file, in bytes.
    pub segment_size_bytes: u64,
    /// The journal's random identity: it seeds every record's checksum, so a record copied
    /// from another journal never validates.
    pub journal_id: [u8; 16],
    /// When the journal was created (UTC).
    pub created_at: Timestamp,
    /// Write a checkpoint automatically after this many records (0: never).
    pub checkpoint_every_records: u64,
    /// Flag bits (1: written by `tradeledger demo`, which may replace the journal).
    pub flags: u32,
}

/// Why a fixed-layout block (meta file, segment header, chain block) did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    Magic,
    Checksum,
    Version(u32),
    Field(&'static str),
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::Magic => f.write_str("bad magic bytes"),
            LayoutError::Checksum => f.write_str("checksum mismatch"),
            LayoutError::Version(v) => write!(f, "unsupported format version {v}"),
            LayoutError::Field(name) => write!(f, "invalid field {name}"),
        }
    }
}

impl JournalMeta {
    /// The bytes of `journal.meta`.
    #[doc(hidden)]
    pub fn encode(&self) -> [u8; META_SIZE] {
        let mut b = [0u8; META_SIZE];
        let (code, period) = self.durability.code();
        b[META_MAGIC_AT..META_MAGIC_AT + 8].copy_from_slice(&META_MAGIC);
        b[META_VERSION_AT..][..4].copy_from_slice(&self.format_version.to_le_bytes());
        b[META_DURABILITY_AT..][..4].copy_from_slice(&code.to_le_bytes());
        b[META_PERIOD_AT..][..8].copy_from_slice(&period.to_le_bytes());
        b[META_SEGMENT_SIZE_AT..][..8].copy_from_slice(&self.segment_size_bytes.to_le_bytes());
        b[META_JOURNAL_ID_AT..][..16].copy_from_slice(&self.journal_id);
        b[META_CREATED_AT..][..8].copy_from_slice(&self.created_at.nanos().to_le_bytes());
        b[META_CHECKPOINT_EVERY_AT..][..8]
            .copy_from_slice(&self.checkpoint_every_records.to_le_bytes());
        b[META_FLAGS_AT..][..4].copy_from_slice(&self.flags.to_le_bytes());
        let sum = crc(&b[..META_CRC_AT]);
        b[META_CRC_AT..].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Reads the bytes of `journal.meta`, checking magic, checksum and version.
    #[doc(hidden)]
    pub fn decode(b: &[u8]) -> Result<JournalMeta, LayoutError> {
        if b.len() != META_SIZE || b[..8] != META_MAGIC {
            return Err(LayoutError::Magic);
        }
        if crc(&b[..META_CRC_AT]) != u32_at(b, META_CRC_AT) {
            return Err(LayoutError::Checksum);
        }
        let format_version = u32_at(b, META_VERSION_AT);
        if format_version != FORMAT_VERSION {
            return Err(LayoutError::Version(format_version));
        }
        let durability =
            Durability::from_code(u32_at(b, META_DURABILITY_AT), u64_at(b, META_PERIOD_AT))
                .ok_or(LayoutError::Field("durability"))?;
        Ok(JournalMeta {
            format_version,
            durability,
            segment_size_bytes: u64_at(b, META_SEGMENT_SIZE_AT),
            journal_id: b[META_JOURNAL_ID_AT..][..16].try_into().expect("16 bytes"),
            created_at: Timestamp::from_nanos(i64_at(b, META_CREATED_AT)),
            checkpoint_every_records: u64_at(b, META_CHECKPOINT_EVERY_AT),
            flags: u32_at(b, META_FLAGS_AT),
        })
    }

    /// The CRC-32 seed of every record frame of this journal, so that a frame copied from
    /// another journal never validates (`docs/FORMAT.md` §4).
    #[doc(hidden)]
    pub fn frame_seed(&self) -> u32 {
        frame_seed(&self.journal_id)
    }
}

pub fn frame_seed(journal_id: &[u8; 16]) -> u32 {
    crc(journal_id)
}

// ---------------------------------------------------------------------------------------------
// §3 Segment header: page 0 of every segment file
// ---------------------------------------------------------------------------------------------

pub const SEGMENT_MAGIC: [u8; 8] = *b"TLSEGMNT";
/// Records start on the second page, so the header page can be rewritten (chain block)
/// without touching record bytes.
pub const SEGMENT_HEADER_SIZE: usize = 4096;
const SEG_MAGIC_AT: usize = 0;
const SEG_VERSION_AT: usize = SEG_MAGIC_AT + 8;
const SEG_HEADER_SIZE_AT: usize = SEG_VERSION_AT + 4;
const SEG_JOURNAL_ID_AT: usize = SEG_HEADER_SIZE_AT + 4;
const SEG_FIRST_SEQ_AT: usize = SEG_JOURNAL_ID_AT + 16;
const SEG_INDEX_AT: usize = SEG_FIRST_SEQ_AT + 8;
const SEG_CAPACITY_AT: usize = SEG_INDEX_AT + 8;
const SEG_CREATED_AT: usize = SEG_CAPACITY_AT + 8;
const SEG_RESERVED_AT: usize = SEG_CREATED_AT + 8;
const SEG_CRC_AT: usize = 124;
/// Where the chain block starts; it is written after the previous segment is sealed.
pub const CHAIN_AT: usize = 128;
const CHAIN_PREV_HASH_AT: usize = CHAIN_AT;
const CHAIN_PREV_END_AT: usize = CHAIN_PREV_HASH_AT + 32;
const CHAIN_PREV_LAST_SEQ_AT: usize = CHAIN_PREV_END_AT + 8;
const CHAIN_RESERVED_AT: usize = CHAIN_PREV_LAST_SEQ_AT + 8;
const CHAIN_CRC_AT: usize = 188;
pub const CHAIN_SIZE: usize = CHAIN_CRC_AT + 4 - CHAIN_AT;
const _: () = assert!(SEG_RESERVED_AT == 64 && SEG_RESERVED_AT <= SEG_CRC_AT);
const _: () = assert!(CHAIN_RESERVED_AT == 176 && CHAIN_SIZE == 64);

/// The fixed part of a segment header, written once when the segment becomes active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub format_version: u32,
    pub journal_id: [u8; 16],
    pub first_seq: u64,
    /// Position of the segment in the chain, 0 for the first.
    pub index: u64,
    pub capacity_bytes: u64,
    pub created_at: Timestamp,
}

impl SegmentHeader {
    /// The first 128 bytes of the header page.
    pub fn encode(&self) -> [u8; CHAIN_AT] {
        let mut b = [0u8; CHAIN_AT];
        b[SEG_MAGIC_AT..][..8].copy_from_slice(&SEGMENT_MAGIC);
        b[SEG_VERSION_AT..][..4].copy_from_slice(&self.format_version.to_le_bytes());
        b[SEG_HEADER_SIZE_AT..][..4].copy_from_slice(&(SEGMENT_HEADER_SIZE as u32).to_le_bytes());
        b[SEG_JOURNAL_ID_AT..][..16].copy_from_slice(&self.journal_id);
        b[SEG_FIRST_SEQ_AT..][..8].copy_from_slice(&self.first_seq.to_le_bytes());
        b[SEG_INDEX_AT..][..8].copy_from_slice(&self.index.to_le_bytes());
        b[SEG_CAPACITY_AT..][..8].copy_from_slice(&self.capacity_bytes.to_le_bytes());
        b[SEG_CREATED_AT..][..8].copy_from_slice(&self.created_at.nanos().to_le_bytes());
        let sum = crc(&b[..SEG_CRC_AT]);
        b[SEG_CRC_AT..SEG_CRC_AT + 4].copy_from_slice(&sum.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<SegmentHeader, LayoutError> {
        if b.len() < CHAIN_AT || b[..8] != SEGMENT_MAGIC {
            return Err(LayoutError::Magic);
        }
        if crc(&b[..SEG_CRC_AT]) != u32_at(b, SEG_CRC_AT) {
            return Err(LayoutError::Checksum);
        }
        let format_version = u32_at(b, SEG_VERSION_AT);
        if format_version != FORMAT_VERSION {
            return Err(LayoutError::Version(format_version));
        }
        if u32_at(b, SEG_HEADER_SIZE_AT) as usize != SEGMENT_HEADER_SIZE {
            return Err(LayoutError::Field("header_size"));
        }
        let first_seq = u64_at(b, SEG_FIRST_SEQ_AT);
        if first_seq == 0 {
            return Err(LayoutError::Field("first_seq"));
        }
        Ok(SegmentHeader {
            format_version,
            journal_id: b[SEG_JOURNAL_ID_AT..][..16].try_into().expect("16 bytes"),
            first_seq,
            index: u64_at(b, SEG_INDEX_AT),
            capacity_bytes: u64_at(b, SEG_CAPACITY_AT),
            created_at: Timestamp::from_nanos(i64_at(b, SEG_CREATED_AT)),
        })
    }
}

/// The link from a segment to its predecessor (`docs/FORMAT.md` §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainLink {
    /// BLAKE3 of the previous segment's bytes `[0, prev_data_end)`; zero for segment 0.
    pub prev_hash: [u8; 32],
    pub prev_data_end: u64,
    pub prev_last_seq: u64,
}

impl ChainLink {
    /// The link of the first segment of a journal.
    pub const GENESIS: ChainLink = ChainLink {
        prev_hash: [0; 32],
        prev_data_end: 0,
        prev_last_seq: 0,
    };

    pub fn encode(&self) -> [u8; CHAIN_SIZE] {
        let mut b = [0u8; CHAIN_SIZE];
        let at = |field: usize| field - CHAIN_AT;
        b[at(CHAIN_PREV_HASH_AT)..][..32].copy_from_slice(&self.prev_hash);
        b[at(CHAIN_PREV_END_AT)..][..8].copy_from_slice(&self.prev_data_end.to_le_bytes());
        b[at(CHAIN_PREV_LAST_SEQ_AT)..][..8].copy_from_slice(&self.prev_last_seq.to_le_bytes());
        let sum = crc(&b[..at(CHAIN_CRC_AT)]);
        b[at(CHAIN_CRC_AT)..].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// `Ok(None)`: the block is all zeros, the link is not written yet (pending).
    pub fn decode(b: &[u8]) -> Result<Option<ChainLink>, LayoutError> {
        let b = &b[..CHAIN_SIZE];
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let at = |field: usize| field - CHAIN_AT;
        if crc(&b[..at(CHAIN_CRC_AT)]) != u32_at(b, at(CHAIN_CRC_AT)) {
            return Err(LayoutError::Checksum);
        }
        Ok(Some(ChainLink {
            prev_hash: b[..32].try_into().expect("32 bytes"),
            prev_data_end: u64_at(b, at(CHAIN_PREV_END_AT)),
            prev_last_seq: u64_at(b, at(CHAIN_PREV_LAST_SEQ_AT)),
        }))
    }
}

/// Where the watermark block starts (`docs/FORMAT.md` §3.3).
pub const WATERMARK_AT: usize = CHAIN_AT + CHAIN_SIZE;
const WATERMARK_SEQ_AT: usize = WATERMARK_AT;
const WATERMARK_END_AT: usize = WATERMARK_SEQ_AT + 8;
const WATERMARK_CRC_AT: usize = WATERMARK_END_AT + 8;
pub const WATERMARK_SIZE: usize = WATERMARK_CRC_AT + 4 - WATERMARK_AT;
const _: () = assert!(WATERMARK_AT == 192 && WATERMARK_SIZE == 20);

/// What the writer knew to be on stable storage in this segment when it last opened or
/// closed the journal: records up to `durable_seq`, ending at byte `durable_end`. Recovery
/// treats damage at or below it as damage, never as a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermark {
    pub durable_seq: u64,
    pub durable_end: u64,
}

impl Watermark {
    pub fn encode(&self) -> [u8; WATERMARK_SIZE] {
        let mut b = [0u8; WATERMARK_SIZE];
        let at = |field: usize| field - WATERMARK_AT;
        b[at(WATERMARK_SEQ_AT)..][..8].copy_from_slice(&self.durable_seq.to_le_bytes());
        b[at(WATERMARK_END_AT)..][..8].copy_from_slice(&self.durable_end.to_le_bytes());
        let sum = crc(&b[..at(WATERMARK_CRC_AT)]);
        b[at(WATERMARK_CRC_AT)..].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// `Ok(None)`: never written (all zeros).
    pub fn decode(b: &[u8]) -> Result<Option<Watermark>, LayoutError> {
        let b = &b[..WATERMARK_SIZE];
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let at = |field: usize| field - WATERMARK_AT;
        if crc(&b[..at(WATERMARK_CRC_AT)]) != u32_at(b, at(WATERMARK_CRC_AT)) {
            return Err(LayoutError::Checksum);
        }
        Ok(Some(Watermark {
            durable_seq: u64_at(b, at(WATERMARK_SEQ_AT)),
            durable_end: u64_at(b, at(WATERMARK_END_AT)),
        }))
    }
}

/// The segment file name for a segment whose first record has `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// The first sequence number a segment file name declares, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

// ---------------------------------------------------------------------------------------------
// §4 Record frame
// ---------------------------------------------------------------------------------------------

pub const FRAME_HEADER_SIZE: usize = 40;
const FRAME_LEN_AT: usize = 0;
const FRAME_CRC_AT: usize = FRAME_LEN_AT + 4;
const FRAME_SEQ_AT: usize = FRAME_CRC_AT + 4;
const FRAME_RECORDED_AT: usize = FRAME_SEQ_AT + 8;
const FRAME_DURABLE_SEQ_AT: usize = FRAME_RECORDED_AT + 8;
const FRAME_KIND_AT: usize = FRAME_DURABLE_SEQ_AT + 8;
const FRAME_CODEC_AT: usize = FRAME_KIND_AT + 2;
const FRAME_SCHEMA_AT: usize = FRAME_CODEC_AT + 1;
const FRAME_FLAGS_AT: usize = FRAME_SCHEMA_AT + 1;
const FRAME_RESERVED_AT: usize = FRAME_FLAGS_AT + 1;
const _: () = assert!(FRAME_RESERVED_AT + 3 == FRAME_HEADER_SIZE);
const _: () = assert!(FRAME_HEADER_SIZE.is_multiple_of(FRAME_ALIGN));

/// The domain tag the record anchor's hash starts with (`docs/FORMAT.md` §7).
pub const RECORD_ANCHOR_TAG: &[u8] = b"tradeledger record anchor v1\0";

/// The record anchor's hash (`docs/FORMAT.md` §7), fed the stored frames in seq order.
///
/// Frames are ~100-200 bytes: handed to BLAKE3 one by one they are hashed a block at a
/// time; gathered into 64 KiB it hashes many chunks at once (SIMD), several times faster.
/// The hash of a stream does not depend on how it is cut into updates.
pub(crate) struct RecordHasher {
    hasher: blake3::Hasher,
    gathered: Vec<u8>,
}

impl RecordHasher {
    const GATHER: usize = 64 << 10;

    pub fn new() -> RecordHasher {
        let mut gathered = Vec::with_capacity(2 * Self::GATHER);
        gathered.extend_from_slice(RECORD_ANCHOR_TAG);
        RecordHasher {
            hasher: blake3::Hasher::new(),
            gathered,
        }
    }

    /// Adds one frame as stored, from its length field to the end of its payload; tells
    /// `hashed` of each block of frames hashed.
    pub fn add(&mut self, stored: &[u8], hashed: &mut dyn FnMut(u64)) {
        self.gathered.extend_from_slice(stored);
        if self.gathered.len() >= Self::GATHER {
            self.hasher.update(&self.gathered);
            hashed(self.gathered.len() as u64);
            self.gathered.clear();
        }
    }

    /// The hash of the frames added so far (more may be added after).
    pub fn hash(&mut self) -> [u8; 32] {
        self.hasher.update(&self.gathered);
        self.gathered.clear();
        *self.hasher.finalize().as_bytes()
    }
}

/// Frame flag: this record is the last of its batch; the batch is committed once this frame
/// is valid (`docs/FORMAT.md` §4.2).
pub const FLAG_BATCH_END: u8 = 1;

/// The largest payload a frame may carry (1 MiB). Events are far smaller (free text is
/// limited to 4096 characters per field); the bound keeps a corrupt length from sending a
/// scan far into the file.
pub const PAYLOAD_SIZE_MAX: usize = 1 << 20;

/// The identifying fields of a record frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub seq: u64,
    pub recorded_at: Timestamp,
    /// The highest sequence number the writer knew to be on stable storage when it wrote
    /// this frame. Recovery uses it to tell a torn tail from damage (`docs/RECOVERY.md`).
    pub durable_seq: u64,
    pub kind: u16,
    pub codec: u8,
    pub schema: u8,
    pub flags: u8,
}

impl FrameHeader {
    pub fn batch_end(&self) -> bool {
        self.flags & FLAG_BATCH_END != 0
    }
}

/// Bytes a frame with a payload of `payload_len` takes, padding included.
pub const fn frame_size(payload_len: usize) -> usize {
    align_up(FRAME_HEADER_SIZE + payload_len)
}

/// Writes a complete frame (header, payload, zero padding) into `out`, which must be exactly
/// `frame_size(payload.len())` bytes. `seed` is the journal's [`frame_seed`].
pub fn write_frame(out: &mut [u8], header: &FrameHeader, payload: &[u8], seed: u32) {
    out[FRAME_HEADER_SIZE..][..payload.len()].copy_from_slice(payload);
    complete_frame(out, header, payload.len(), seed);
}

/// Writes the header and padding of a frame whose payload of `payload_len` bytes is already
/// in place at `out[FRAME_HEADER_SIZE..]` (the writer encodes straight into the mapping),
/// and its CRC last. `out` must be exactly `frame_size(payload_len)` bytes.
pub fn complete_frame(out: &mut [u8], header: &FrameHeader, payload_len: usize, seed: u32) {
    let frame_len = FRAME_HEADER_SIZE + payload_len;
    debug_assert_eq!(out.len(), frame_size(payload_len));
    debug_assert!(payload_len <= PAYLOAD_SIZE_MAX);
    out[FRAME_LEN_AT..][..4].copy_from_slice(&(frame_len as u32).to_le_bytes());
    out[FRAME_SEQ_AT..][..8].copy_from_slice(&header.seq.to_le_bytes());
    out[FRAME_RECORDED_AT..][..8].copy_from_slice(&header.recorded_at.nanos().to_le_bytes());
    out[FRAME_DURABLE_SEQ_AT..][..8].copy_from_slice(&header.durable_seq.to_le_bytes());
    out[FRAME_KIND_AT..][..2].copy_from_slice(&header.kind.to_le_bytes());
    out[FRAME_CODEC_AT] = header.codec;
    out[FRAME_SCHEMA_AT] = header.schema;
    out[FRAME_FLAGS_AT] = header.flags;
    out[FRAME_RESERVED_AT..FRAME_HEADER_SIZE].fill(0);
    out[frame_len..].fill(0);
    let sum = frame_crc(&out[..frame_len], seed);
    out[FRAME_CRC_AT..][..4].copy_from_slice(&sum.to_le_bytes());
}

/// CRC-32 over the length field and everything after the CRC field, seeded per journal.
fn frame_crc(frame: &[u8], seed: u32) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(seed);
    hasher.update(&frame[FRAME_LEN_AT..FRAME_CRC_AT]);
    hasher.update(&frame[FRAME_SEQ_AT..]);
    hasher.finalize()
}

/// Why the bytes at a frame position are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length field is zero: nothing was ever written here.
    Empty,
    /// The length is below the header size, above the limit, or runs past the segment end.
    Length(u32),
    Checksum,
    /// The reserved bytes or padding are not zero.
    Reserved,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Empty => f.write_str("no frame (zero length)"),
            FrameError::Length(len) => write!(f, "impossible frame length {len}"),
            FrameError::Checksum => f.write_str("frame checksum mismatch"),
            FrameError::Reserved => f.write_str("non-zero reserved bytes or padding"),
        }
    }
}

/// A frame that passed its checksum, borrowed from the segment bytes.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub header: FrameHeader,
    pub payload: &'a [u8],
    /// Bytes the frame occupies, padding included.
    pub size: usize,
}

impl Frame<'_> {
    /// The frame's length field: its bytes without the padding.
    #[allow(clippy::len_without_is_empty)] // a frame is never empty
    pub fn len(&self) -> usize {
        FRAME_HEADER_SIZE + self.payload.len()
    }
}

/// Reads and checks the frame at the start of `bytes` (which extends to the segment end).
pub fn read_frame(bytes: &[u8], seed: u32) -> Result<Frame<'_>, FrameError> {
    parse_frame(bytes, Some(seed))
}

/// [`read_frame`], with the checksum (seeded by `seed`) checked only when one is given: not
/// for bytes a scan in this process has checked already ([`crate::storage::scan::Frames::scanned`]).
pub(crate) fn parse_frame(bytes: &[u8], seed: Option<u32>) -> Result<Frame<'_>, FrameError> {
    if bytes.len() < FRAME_HEADER_SIZE {
        return Err(if bytes.iter().all(|&b| b == 0) {
            FrameError::Empty
        } else {
            FrameError::Length(0)
        });
    }
    let frame_len = u32_at(bytes, FRAME_LEN_AT);
    if frame_len == 0 {
        return Err(FrameError::Empty);
    }
    let len = frame_len as usize;
    if len < FRAME_HEADER_SIZE
        || len - FRAME_HEADER_SIZE > PAYLOAD_SIZE_MAX
        || align_up(len) > bytes.len()
    {
        return Err(FrameError::Length(frame_len));
    }
    if seed.is_some_and(|seed| frame_crc(&bytes[..len], seed) != u32_at(bytes, FRAME_CRC_AT)) {
        return Err(FrameError::Checksum);
    }
    let size = align_up(len);
    let reserved_clean = bytes[FRAME_RESERVED_AT..FRAME_HEADER_SIZE]
        .iter()
        .all(|&b| b == 0)
        && bytes[len..size].iter().all(|&b| b == 0);
    if !reserved_clean {
        return Err(FrameError::Reserved);
    }
    let header = FrameHeader {
        seq: u64_at(bytes, FRAME_SEQ_AT),
        recorded_at: Timestamp::from_nanos(i64_at(bytes, FRAME_RECORDED_AT)),
        durable_seq: u64_at(bytes, FRAME_DURABLE_SEQ_AT),
        kind: u16::from_le_bytes([bytes[FRAME_KIND_AT], bytes[FRAME_KIND_AT + 1]]),
        codec: bytes[FRAME_CODEC_AT],
        schema: bytes[FRAME_SCHEMA_AT],
        flags: bytes[FRAME_FLAGS_AT],
    };
    Ok(Frame {
        header,
        payload: &bytes[FRAME_HEADER_SIZE..len],
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u64) -> FrameHeader {
        FrameHeader {
            seq,
            recorded_at: Timestamp::from_nanos(1_700_000_000_123_456_789),
            durable_seq: seq - 1,
            kind: 2,
            codec: 1,
            schema: 1,
            flags: FLAG_BATCH_END,
        }
    }

    #[test]
    fn frame_round_trips_and_every_flipped_bit_is_detected() {
        let payload = b"hello, ledger";
        let mut buf = vec![0u8; frame_size(payload.len())];
        write_frame(&mut buf, &header(7), payload, 42);
        let frame = read_frame(&buf, 42).unwrap();
        assert_eq!(frame.header, header(7));
        assert_eq!(frame.payload, payload);
        assert_eq!(frame.size, buf.len());
        for bit in 0..(FRAME_HEADER_SIZE + payload.len()) * 8 {
            let mut damaged = buf.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                read_frame(&damaged, 42).is_err(),
                "bit {bit} flip undetected"
            );
        }
    }

    #[test]
    fn frame_from_another_journal_does_not_validate() {
        let mut buf = vec![0u8; frame_size(3)];
        write_frame(&mut buf, &header(1), b"abc", frame_seed(&[1; 16]));
        assert_eq!(
            read_frame(&buf, frame_seed(&[2; 16])).unwrap_err(),
            FrameError::Checksum
        );
    }

    /// Fewer bytes than a frame header: nothing written if they are all zero, else a frame
    /// cut short; never a read past them.
    #[test]
    fn bytes_shorter_than_a_header_are_empty_or_a_bad_length() {
        for len in [0, 1, 3, 4, FRAME_HEADER_SIZE - 1] {
            assert_eq!(
                read_frame(&vec![0u8; len], 7).unwrap_err(),
                FrameError::Empty
            );
            if len > 0 {
                let mut bytes = vec![0u8; len];
                bytes[len - 1] = 1;
                assert_eq!(read_frame(&bytes, 7).unwrap_err(), FrameError::Length(0));
            }
        }
    }

    /// The smallest and the largest payloads a frame may hold read back; one byte more than
    /// the largest is a bad length, checksum or not.
    #[test]
    fn payload_sizes_at_the_limits() {
        let seed = frame_seed(&[1; 16]);
        for size in [0, PAYLOAD_SIZE_MAX] {
            let payload = vec![7u8; size];
            let mut buf = vec![0u8; frame_size(size)];
            write_frame(&mut buf, &header(1), &payload, seed);
            let frame = read_frame(&buf, seed).unwrap();
            assert_eq!((frame.payload, frame.size), (&payload[..], buf.len()));
        }
        let too_long = FRAME_HEADER_SIZE + PAYLOAD_SIZE_MAX + 1;
        let mut buf = vec![0u8; frame_size(PAYLOAD_SIZE_MAX + 1)];
        buf[..4].copy_from_slice(&(too_long as u32).to_le_bytes());
        let expected = FrameError::Length(too_long as u32);
        assert_eq!(read_frame(&buf, seed).unwrap_err(), expected);
        assert_eq!(parse_frame(&buf, None).unwrap_err(), expected);
    }

    #[test]
    fn meta_header_and_chain_round_trip() {
        let meta = JournalMeta {
            format_version: FORMAT_VERSION,
            durability: Durability::Periodic { interval_ms: 250 },
            segment_size_bytes: 1 << 20,
            journal_id: [9; 16],
            created_at: Timestamp::from_nanos(5),
            checkpoint_every_records: 1000,
            flags: META_FLAG_DEMO,
        };
        assert_eq!(JournalMeta::decode(&meta.encode()), Ok(meta));
        let mut damaged = meta.encode();
        damaged[20] ^= 1;
        assert_eq!(JournalMeta::decode(&damaged), Err(LayoutError::Checksum));

        let seg = SegmentHeader {
            format_version: FORMAT_VERSION,
            journal_id: [3; 16],
            first_seq: 100,
            index: 2,
            capacity_bytes: 1 << 20,
            created_at: Timestamp::from_nanos(-5),
        };
        assert_eq!(SegmentHeader::decode(&seg.encode()), Ok(seg));
        let link = ChainLink {
            prev_hash: [7; 32],
            prev_data_end: 8192,
            prev_last_seq: 99,
        };
        assert_eq!(ChainLink::decode(&link.encode()), Ok(Some(link)));
        assert_eq!(ChainLink::decode(&[0; CHAIN_SIZE]), Ok(None));
    }

    #[test]
    fn durability_parses_and_prints() {
        for text in ["buffered", "sync", "periodic:100"] {
            assert_eq!(Durability::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Durability::parse("periodic:0"), None);
        assert_eq!(Durability::parse("fast"), None);
    }

    #[test]
    fn segment_names_sort_by_first_seq() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("1.seg"), None);
    }
}
