//! `decode(encode(e)) == e` for arbitrary events, under the schema `encode` reports.

mod common;

use proptest::prelude::*;
use tradeledger::model::codec::{self, CODEC_POSTCARD};

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
}
