//! `cairn selfcheck`: drives the whole client-side data path in memory, one segment at a
//! time (memory stays at a few segments whatever `--size` is), proves each step and
//! reports throughput.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cairn_core::{
    ContentHash, EncodedSegment, FileKey, KdfParams, MasterSecret, ObjectCodec, ObjectId,
    ObjectMetadata, PathCipher, RecoveryPhrase, Redundancy, RemotePath, SegmentError, SegmentIndex,
    SegmentLayout, SegmentRecord, Timestamp, WrapError, WrappedSecret,
};
use rand::{CryptoRng, Rng};
use serde::Serialize;

/// What to check.
pub struct Options {
    /// Bytes of random plaintext.
    pub size: u64,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// The redundancy to code with.
    pub redundancy: Redundancy,
}

/// What was measured.
#[derive(Debug, Serialize)]
pub struct Report {
    redundancy: String,
    bytes: u64,
    segments: u32,
    fragments_lost_per_segment: usize,
    encode_mb_per_s: f64,
    decode_mb_per_s: f64,
    passphrase_unwrap_ms: f64,
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
}

/// Runs every check, printing a line per step through `say`.
pub fn run(
    options: &Options,
    rng: &mut (impl CryptoRng + Rng),
    mut say: impl FnMut(&str),
) -> anyhow::Result<Report> {
    // Keys and the recovery phrase.
    let master = MasterSecret::generate(rng);
    let phrase = RecoveryPhrase::from_secret(&master);
    let recovered = RecoveryPhrase::parse(phrase.words())?.to_secret()?;
    ensure!(
        recovered == master,
        "the recovery phrase did not restore the master secret"
    );
    let account = master.account_key().account_id();
    say(&format!(
        "✓ keys: account {account}, recovery phrase round-trips"
    ));

    // Passphrase wrapping at the real default cost.
    let wrapped = WrappedSecret::wrap(&master, b"selfcheck passphrase", KdfParams::DEFAULT, rng)?;
    let started = Instant::now();
    let unwrapped =
        WrappedSecret::from_bytes(&wrapped.to_bytes())?.unwrap_secret(b"selfcheck passphrase")?;
    let unwrap_time = started.elapsed();
    ensure!(
        unwrapped == master,
        "unwrapping returned a different secret"
    );
    match wrapped.unwrap_secret(b"wrong passphrase") {
        Err(WrapError::WrongPassphrase) => {}
        other => bail!("a wrong passphrase was not refused: {other:?}"),
    }
    say(&format!(
        "✓ passphrase: Argon2id unwrap in {:.0} ms, wrong passphrase refused",
        unwrap_time.as_secs_f64() * 1e3
    ));

    // Paths.
    let paths = PathCipher::new(&master.path_key());
    let path = RemotePath::parse("/selfcheck/photos/2026/cat.jpg")?;
    let encrypted = paths.encrypt(&path);
    ensure!(
        paths.decrypt(&encrypted)? == path,
        "path did not round-trip"
    );
    say(&format!(
        "✓ paths: {path} is stored as {}…",
        &encrypted.as_str()[..24.min(encrypted.as_str().len())]
    ));

    // The data path, one segment at a time.
    let redundancy = options.redundancy;
    let layout = SegmentLayout::new(options.size, options.segment_size)?;
    let object = ObjectId::random(rng);
    let file_key = FileKey::generate(rng);
    let codec = ObjectCodec::new(&file_key, object, layout, redundancy)?;
    let lose = usize::from(redundancy.m());
    let total = usize::from(redundancy.fragments());
    let (mut input_hash, mut output_hash) = (blake3::Hasher::new(), blake3::Hasher::new());
    let (mut encode_time, mut decode_time) = (Duration::ZERO, Duration::ZERO);
    let mut records = Vec::with_capacity(layout.count() as usize);
    // One plaintext buffer and one set of fragment buffers, reused for every segment.
    let mut plain = Vec::with_capacity(layout.plaintext_len(SegmentIndex(0)) + 16);
    let mut encoded = EncodedSegment {
        fragments: Vec::new(),
        hashes: Vec::new(),
    };
    for i in 0..layout.count() {
        let index = SegmentIndex(i);
        plain.resize(layout.plaintext_len(index), 0);
        rng.fill_bytes(&mut plain);
        input_hash.update(&plain);

        let started = Instant::now();
        codec.encode_into(index, &mut plain, &mut encoded)?;
        encode_time += started.elapsed();

        // Lose `m` random fragments (for replication, copies live on other peers instead).
        let mut slots: Vec<Option<&[u8]>> = encoded
            .fragments
            .iter()
            .map(|f| Some(f.as_slice()))
            .collect();
        for lost in rand::seq::index::sample(rng, total, lose) {
            if let Some(slot) = slots.get_mut(lost) {
                *slot = None;
            }
        }
        let started = Instant::now();
        let decoded = codec.decode(index, &slots, &encoded.hashes)?;
        decode_time += started.elapsed();
        output_hash.update(&decoded);

        if i == 0 {
            // A flipped bit in a fragment is caught before anything is decrypted.
            let mut bad = encoded.fragments[0].clone();
            if let Some(byte) = bad.first_mut() {
                *byte ^= 1;
            }
            let mut slots: Vec<Option<&[u8]>> = encoded
                .fragments
                .iter()
                .map(|f| Some(f.as_slice()))
                .collect();
            slots[0] = Some(&bad);
            match codec.decode(index, &slots, &encoded.hashes) {
                Err(SegmentError::CorruptFragment { .. }) => {}
                other => bail!("a corrupt fragment was not detected: {other:?}"),
            }
        }
        records.push(SegmentRecord {
            fragments: encoded.hashes.clone(),
        });
    }
    ensure!(
        input_hash.finalize() == output_hash.finalize(),
        "decoded data differs from the input"
    );
    let bytes = options.size;
    say(&format!(
        "✓ data: {} in {} segment(s) with {redundancy}, {lose} of {total} fragments lost per segment, \
         restored byte for byte",
        bytesize::ByteSize(bytes),
        layout.count()
    ));
    say(&format!(
        "  encode (seal + erasure-code + hash) {:.0} MB/s, decode (verify + rebuild + open) {:.0} MB/s",
        mb_per_s(bytes, encode_time),
        mb_per_s(bytes, decode_time)
    ));

    // Metadata.
    let metadata = ObjectMetadata {
        layout,
        modified: Timestamp { secs: 0, nanos: 0 },
        content_hash: ContentHash::from_bytes(*input_hash.finalize().as_bytes()),
        file_key,
        redundancy,
        segments: records,
    };
    let blob = metadata.seal(&master.metadata_key(), object, rng)?;
    let opened = ObjectMetadata::open(&master.metadata_key(), object, &blob)
        .context("sealed metadata did not open")?;
    ensure!(opened == metadata, "metadata did not round-trip");
    say(&format!(
        "✓ metadata: {} bytes sealed, opens only for its object",
        blob.len()
    ));
    say("all checks passed");

    Ok(Report {
        redundancy: redundancy.to_string(),
        bytes,
        segments: layout.count(),
        fragments_lost_per_segment: lose,
        encode_mb_per_s: mb_per_s(bytes, encode_time),
        decode_mb_per_s: mb_per_s(bytes, decode_time),
        passphrase_unwrap_ms: unwrap_time.as_secs_f64() * 1e3,
    })
}
