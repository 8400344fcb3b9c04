//! The codec layer: encode and decode of one event of each of the 9 kinds (criterion).
//!
//! Encode appends the postcard payload to a reused `Vec` (no allocation once warm), as the
//! writer does; decode builds the owned `Event` (its strings allocate), as replay does, with
//! the hand-written decoder (`decode/KIND`) and with postcard's (`decode_postcard/KIND`, the
//! reference it replaced on the read path).
//! No I/O, no framing, no checksum: those are in `append.rs`. `validate/KIND` is the check of
//! the contract's stateless rules every library append runs (`contract::validate`), for
//! comparison with the encode beside it.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tradeledger::{model::codec, model::contract};

fn codec_by_kind(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for event in common::one_of_each_kind() {
        let kind = event.kind();
        let mut payload = Vec::with_capacity(4096);
        let (_, schema) = codec::encode(&event, &mut payload);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        let mut out = Vec::with_capacity(4096);
        group.bench_function(format!("encode/{}", kind.name()), |b| {
            b.iter(|| {
                out.clear();
                black_box(codec::encode(black_box(&event), &mut out));
            })
        });
        group.bench_function(format!("validate/{}", kind.name()), |b| {
            b.iter(|| black_box(contract::validate(black_box(&event))).expect("valid"))
        });
        group.bench_function(format!("decode/{}", kind.name()), |b| {
            b.iter(|| {
                let decoded = codec::decode(
                    kind as u16,
                    codec::CODEC_POSTCARD,
                    schema,
                    black_box(&payload),
                );
                black_box(decoded.expect("decodes"))
            })
        });
        group.bench_function(format!("decode_postcard/{}", kind.name()), |b| {
            b.iter(|| {
                let decoded = codec::decode_with_postcard(
                    kind as u16,
                    codec::CODEC_POSTCARD,
                    schema,
                    black_box(&payload),
                );
                black_box(decoded.expect("decodes"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec_by_kind);
criterion_main!(benches);
