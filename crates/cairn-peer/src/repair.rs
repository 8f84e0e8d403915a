//! Running a job the pool handed over in a heartbeat answer: a repair reads `k` healthy
//! pieces from other peers with the job's get orders and rebuilds the missing fragments
//! with Reed–Solomon on ciphertext (for `rep`, it takes a surviving copy); a migration
//! copies one healthy piece. Every piece is checked against its recorded hash and stored on
//! its new peer with the job's put orders. No key is involved; the receipts go back to the
//! pool.

use std::collections::HashMap;
use std::str::FromStr;

use bytes::Bytes;
use cairn_core::{ErasureCodec, RedundancyPolicy};
use cairn_proto::api::{CommittedPiece, GetTarget, RepairJob};
use cairn_transfer::PeerTransport;
use futures_util::future::join_all;

/// A job that fell short: the pieces it did store, and why it stopped.
#[derive(Debug)]
pub struct Shortfall {
    /// Pieces stored before or despite the failure.
    pub pieces: Vec<CommittedPiece>,
    /// What went wrong.
    pub error: String,
}

fn fail(error: impl Into<String>) -> Shortfall {
    Shortfall {
        pieces: Vec::new(),
        error: error.into(),
    }
}

/// Reads fragment `fragment` from the first of its sources that answers correctly.
async fn fetch(
    peers: &dyn PeerTransport,
    sources: &[&GetTarget],
    size: u64,
) -> Result<Bytes, String> {
    let mut last = String::from("no source holds it");
    for source in sources {
        match peers
            .get(
                source.peer,
                &source.address,
                &source.order,
                source.hash,
                size,
            )
            .await
        {
            Ok(bytes) => return Ok(bytes),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Runs `job`; every target's receipt on success.
pub async fn run(
    peers: &dyn PeerTransport,
    job: &RepairJob,
) -> Result<Vec<CommittedPiece>, Shortfall> {
    let redundancy = match RedundancyPolicy::from_str(&job.redundancy) {
        Ok(RedundancyPolicy::Fixed(redundancy)) => redundancy,
        _ => {
            return Err(fail(format!("{:?} is not a redundancy", job.redundancy)));
        }
    };
    let total = usize::from(redundancy.fragments());
    let mut by_fragment: HashMap<u16, Vec<&GetTarget>> = HashMap::new();
    for source in &job.sources {
        if usize::from(source.fragment) < total {
            by_fragment.entry(source.fragment).or_default().push(source);
        }
    }
    let mut wanted: Vec<u16> = job.targets.iter().map(|t| t.fragment).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.iter().any(|f| usize::from(*f) >= total) {
        return Err(fail("a target names a fragment outside the redundancy"));
    }
    // A copy is enough when every wanted fragment can be read as it is: always for `rep`,
    // and for a migration, which moves a healthy piece.
    let direct = redundancy.is_replicated() || wanted.iter().all(|f| by_fragment.contains_key(f));
    let rebuilt: HashMap<u16, Bytes> = if direct {
        let copies = join_all(wanted.iter().map(|f| {
            let sources = by_fragment.get(f).cloned().unwrap_or_default();
            async move { (*f, fetch(peers, &sources, job.piece_size).await) }
        }))
        .await;
        let mut out = HashMap::new();
        for (fragment, copy) in copies {
            out.insert(
                fragment,
                copy.map_err(|e| {
                    fail(format!("no copy of fragment {fragment} could be read: {e}"))
                })?,
            );
        }
        out
    } else {
        rebuild(
            peers,
            job,
            &by_fragment,
            usize::from(redundancy.k()),
            total,
            &wanted,
        )
        .await?
    };
    // Every rebuilt piece must be the very piece the segment recorded.
    for target in &job.targets {
        let bytes = rebuilt
            .get(&target.fragment)
            .ok_or_else(|| fail("a fragment was not rebuilt"))?;
        if !target.hash.matches(bytes) {
            return Err(fail(format!(
                "rebuilt fragment {} does not match its recorded hash {}",
                target.fragment, target.hash
            )));
        }
    }
    let stored = join_all(job.targets.iter().map(|target| {
        let bytes = rebuilt.get(&target.fragment).cloned().unwrap_or_default();
        async move {
            peers
                .put(
                    target.peer,
                    &target.address,
                    &target.order,
                    target.hash,
                    bytes,
                )
                .await
                .map(|receipt| CommittedPiece {
                    fragment: target.fragment,
                    receipt,
                })
        }
    }))
    .await;
    let mut pieces = Vec::with_capacity(stored.len());
    let mut last = None;
    for result in stored {
        match result {
            Ok(piece) => pieces.push(piece),
            Err(e) => last = Some(e.to_string()),
        }
    }
    match last {
        None => Ok(pieces),
        Some(error) => Err(Shortfall { pieces, error }),
    }
}

/// Fetches `k` distinct fragments (data first) and rebuilds the `wanted` ones.
async fn rebuild(
    peers: &dyn PeerTransport,
    job: &RepairJob,
    by_fragment: &HashMap<u16, Vec<&GetTarget>>,
    k: usize,
    total: usize,
    wanted: &[u16],
) -> Result<HashMap<u16, Bytes>, Shortfall> {
    let mut order: Vec<u16> = by_fragment.keys().copied().collect();
    order.sort_unstable();
    let mut remaining = order.into_iter();
    let mut have: Vec<Option<Bytes>> = vec![None; total];
    let mut found = 0;
    let mut last = String::from("too few sources");
    while found < k {
        let batch: Vec<u16> = remaining.by_ref().take(k - found).collect();
        if batch.is_empty() {
            return Err(fail(format!(
                "only {found} of the {k} fragments needed could be read (last: {last})"
            )));
        }
        let fetched = join_all(batch.iter().map(|f| {
            let sources = by_fragment.get(f).cloned().unwrap_or_default();
            async move { (*f, fetch(peers, &sources, job.piece_size).await) }
        }))
        .await;
        for (fragment, result) in fetched {
            match result {
                Ok(bytes) => {
                    have[usize::from(fragment)] = Some(bytes);
                    found += 1;
                }
                Err(e) => last = e,
            }
        }
    }
    let wanted_indexes: Vec<usize> = wanted.iter().map(|f| usize::from(*f)).collect();
    let data = k;
    let parity = total - k;
    let rebuilt = tokio::task::spawn_blocking(move || {
        let codec = ErasureCodec::new(data, parity)?;
        let fragments: Vec<Option<&[u8]>> = have.iter().map(|b| b.as_deref()).collect();
        codec.rebuild(&fragments, &wanted_indexes)
    })
    .await
    .map_err(|e| fail(format!("the rebuild stopped: {e}")))?
    .map_err(|e| fail(format!("the rebuild failed: {e}")))?;
    Ok(wanted
        .iter()
        .copied()
        .zip(rebuilt.into_iter().map(Bytes::from))
        .collect())
}
