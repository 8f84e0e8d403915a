//! Data-path throughput: every kernel of a segment's trip, each beside a memcpy of the same
//! bytes measured in the same run, so results read as ratios to the machine's floor; and
//! the cost of one signature check, beside the same check with a freshly decompressed key.
//!
//! Run with `cargo bench -p cairn-core --bench datapath`; figures go to `docs/performance.md`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use cairn_core::{
    ErasureCodec, FileKey, ObjectCodec, ObjectId, PieceHash, Redundancy, SegmentCipher,
    SegmentIndex, SegmentLayout,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const OBJECT: ObjectId = ObjectId::from_bytes([1; 16]);

fn data(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

fn datapath(c: &mut Criterion) {
    for (label, len) in [("1MiB", 1usize << 20), ("16MiB", 16 << 20)] {
        let mut group = c.benchmark_group(format!("segment/{label}"));
        group
            .throughput(Throughput::BytesDecimal(len as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));

        let plain = data(len);
        let key = FileKey::from_bytes([7; 32]);

        group.bench_function("memcpy (baseline)", |b| {
            let mut dst = vec![0u8; len];
            b.iter(|| {
                dst.copy_from_slice(black_box(&plain));
                black_box(&dst);
            })
        });

        group.bench_function("blake3 hash", |b| {
            b.iter(|| PieceHash::of(black_box(&plain)))
        });

        let cipher = SegmentCipher::new(&key, OBJECT, 1);
        group.bench_function("seal (AES-256-GCM)", |b| {
            b.iter_batched_ref(
                || {
                    let mut v = Vec::with_capacity(len + 16);
                    v.extend_from_slice(&plain);
                    v
                },
                |buf| cipher.seal(SegmentIndex(0), buf),
                BatchSize::LargeInput,
            )
        });
        let mut sealed = plain.clone();
        if cipher.seal(SegmentIndex(0), &mut sealed).is_err() {
            return;
        }
        group.bench_function("open (AES-256-GCM)", |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| cipher.open(SegmentIndex(0), buf),
                BatchSize::LargeInput,
            )
        });

        let Ok(erasure) = ErasureCodec::new(4, 2) else {
            return;
        };
        group.bench_function("erasure encode ec:4+2", |b| {
            b.iter(|| erasure.encode(black_box(&sealed)))
        });
        let Ok(fragments) = erasure.encode(&sealed) else {
            return;
        };
        let all: Vec<Option<&[u8]>> = fragments.iter().map(|f| Some(f.as_slice())).collect();
        let mut two_lost = all.clone();
        two_lost[0] = None;
        two_lost[2] = None;
        group.bench_function("erasure decode ec:4+2, none lost", |b| {
            b.iter(|| erasure.decode(black_box(&all), sealed.len()))
        });
        group.bench_function("erasure decode ec:4+2, 2 data lost", |b| {
            b.iter(|| erasure.decode(black_box(&two_lost), sealed.len()))
        });

        let Ok(layout) = SegmentLayout::new(len as u64, len as u32) else {
            return;
        };
        let Ok(redundancy) = Redundancy::ec(4, 2) else {
            return;
        };
        let Ok(codec) = ObjectCodec::new(&key, OBJECT, layout, redundancy) else {
            return;
        };
        group.bench_function("pipeline encode ec:4+2 (seal, code, hash)", |b| {
            b.iter_batched(
                || plain.clone(),
                |p| codec.encode(SegmentIndex(0), p),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("pipeline encode ec:4+2, reused buffers", |b| {
            let mut buf = Vec::with_capacity(len + 16);
            let Ok(mut out) = codec.encode(SegmentIndex(0), plain.clone()) else {
                return;
            };
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(&plain);
                codec.encode_into(SegmentIndex(0), &mut buf, &mut out)
            })
        });
        let Ok(encoded) = codec.encode(SegmentIndex(0), plain.clone()) else {
            return;
        };
        let mut slots: Vec<Option<&[u8]>> = encoded
            .fragments
            .iter()
            .map(|f| Some(f.as_slice()))
            .collect();
        slots[1] = None;
        slots[3] = None;
        group.bench_function(
            "pipeline decode ec:4+2, 2 data lost (verify, rebuild, open)",
            |b| b.iter(|| codec.decode(SegmentIndex(0), black_box(&slots), &encoded.hashes)),
        );
        group.finish();
    }
}

/// One Ed25519 check as every role makes it per piece (a receipt, an order, a signed
/// request): with the key decompressed afresh (the baseline) and remembered.
fn signatures(c: &mut Criterion) {
    use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
    let signing = SigningKey::from_bytes(&[7; 32]);
    let bytes = signing.verifying_key().to_bytes();
    let message = [5u8; 120];
    let signature = signing.sign(&message);
    let peer = cairn_core::PeerId::from_verifying_key(&signing.verifying_key());
    let mut group = c.benchmark_group("signature");
    group.bench_function("decompress + verify (baseline)", |b| {
        b.iter(|| {
            VerifyingKey::from_bytes(black_box(&bytes))
                .map(|key| key.verify_strict(&message, &signature))
        })
    });
    group.bench_function("remembered key + verify", |b| {
        b.iter(|| black_box(peer).verify(&message, &signature.to_bytes()))
    });
    group.bench_function("sign", |b| b.iter(|| signing.sign(black_box(&message))));
    group.finish();
}

criterion_group!(benches, datapath, signatures);
criterion_main!(benches);
