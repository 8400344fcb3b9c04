//! `decode(encode(e)) == e` for arbitrary events, under the schema `encode` reports; the
//! hand-written encoder writes postcard's bytes, and the hand-written decoder reads what
//! postcard reads: the same event or the same error, for damaged and random payloads too.

mod common;

use proptest::prelude::*;
use tradeledger::model::codec::{self, DecodeError, CODEC_POSTCARD};
use tradeledger::model::event::{Event, EventKind};

/// `decode` and postcard's decoder give the same answer for `payload` under `kind` and its
/// current schema: the same error, or events whose encodings are the same bytes (a bitwise
/// equality: it tells the scales of decimals and the bits of floats apart, NaN included).
fn agree(kind: EventKind, payload: &[u8]) -> Result<(), TestCaseError> {
    let schema = codec::current_schema(kind);
    let fast = codec::decode(kind as u16, CODEC_POSTCARD, schema, payload);
    let reference = codec::decode_with_postcard(kind as u16, CODEC_POSTCARD, schema, payload);
    let bytes = |decoded: Result<Event, DecodeError>| {
        decoded.map(|event| {
            let mut out = Vec::new();
            codec::encode(&event, &mut out);
            out
        })
    };
    prop_assert_eq!(bytes(fast), bytes(reference), "payload {:02x?}", payload);
    Ok(())
}

/// A byte that sits on an edge of postcard's encoding: an option tag or bool (0, 1, 2), a
/// varint's continuation (0x80, 0xFF) or last byte, a scale out of range (29).
fn edge_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0u8),
        Just(1),
        Just(2),
        Just(3),
        Just(29),
        Just(0x7F),
        Just(0x80),
        Just(0xFF),
        any::<u8>()
    ]
}

/// One change to a payload: a byte set, a run of bytes inserted, or the end cut off.
#[derive(Clone, Debug)]
enum Damage {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Cut(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), edge_byte()).prop_map(|(at, b)| Damage::Set(at, b)),
        (any::<usize>(), prop::collection::vec(edge_byte(), 1..12))
            .prop_map(|(at, run)| Damage::Insert(at, run)),
        any::<usize>().prop_map(Damage::Cut),
    ]
}

fn damaged(mut payload: Vec<u8>, damages: &[Damage]) -> Vec<u8> {
    for damage in damages {
        let at = |i: usize| i % (payload.len() + 1);
        match damage {
            Damage::Set(i, b) if !payload.is_empty() => {
                let i = i % payload.len();
                payload[i] = *b;
            }
            Damage::Set(..) => {}
            Damage::Insert(i, run) => {
                let i = at(*i);
                payload.splice(i..i, run.iter().copied());
            }
            Damage::Cut(i) => payload.truncate(at(*i)),
        }
    }
    payload
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decode_of_encode_is_the_event(event in common::any_event()) {
        let mut payload = Vec::new();
        let (kind, schema) = codec::encode(&event, &mut payload);
        prop_assert_eq!(kind, event.kind());
        prop_assert_eq!(schema, codec::current_schema(kind));
        let decoded = codec::decode(kind as u16, CODEC_POSTCARD, schema, &payload);
        prop_assert_eq!(decoded.as_ref(), Ok(&event));
        let decoded = decoded.unwrap();
        prop_assert!(common::identical(&decoded, &event), "a decimal scale changed");
        let fast = codec::decode_fast(kind, &payload);
        prop_assert!(fast.is_some(), "the hand-written decoder takes every payload encode writes");
        prop_assert!(common::identical(&fast.unwrap(), &event));
    }

    #[test]
    fn the_hand_written_encoder_writes_exactly_postcards_bytes(event in common::any_event()) {
        let mut fast = Vec::new();
        let mut reference = Vec::new();
        prop_assert_eq!(codec::encode(&event, &mut fast), codec::encode_with_postcard(&event, &mut reference));
        prop_assert_eq!(fast, reference);
    }

    #[test]
    fn encoding_appends_to_the_buffer(event in common::any_event(), prefix in any::<Vec<u8>>()) {
        let mut alone = Vec::new();
        codec::encode(&event, &mut alone);
        let mut appended = prefix.clone();
        codec::encode(&event, &mut appended);
        prop_assert_eq!(&appended[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&appended[prefix.len()..], &alone[..]);
    }

    #[test]
    fn the_hand_written_decoder_agrees_with_postcard_on_damaged_payloads(
        event in common::any_event(),
        damages in prop::collection::vec(damage(), 1..4),
        other_kind in prop::sample::select(EventKind::ALL.to_vec()),
    ) {
        let mut payload = Vec::new();
        codec::encode(&event, &mut payload);
        let payload = damaged(payload, &damages);
        agree(event.kind(), &payload)?;
        // The bytes read as another kind: most fail, some are read as something else.
        agree(other_kind, &payload)?;
    }

    #[test]
    fn the_hand_written_decoder_agrees_with_postcard_on_random_payloads(
        kind in prop::sample::select(EventKind::ALL.to_vec()),
        payload in prop::collection::vec(edge_byte(), 0..64),
    ) {
        agree(kind, &payload)?;
    }
}
