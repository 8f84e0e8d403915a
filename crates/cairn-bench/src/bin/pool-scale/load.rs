//! The workloads, each a bounded set of tasks over one connection pool: peers registering;
//! peers heartbeating flat out; peers heartbeating at the pool's interval in the background;
//! accounts beginning uploads and placing segments, then committing them with the peers'
//! receipts, with the calls and bodies of `cairn-client`'s upload of a one-segment file.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cairn_core::{PeerId, PieceHash, Redundancy, RedundancyPolicy};
use cairn_proto::OrderSerial;
use cairn_proto::api::{
    self as paths, BeginUpload, CommitUpload, CommittedPiece, FragmentInfo, HeartbeatAck,
    LastSegment, PeerRegistered, PlaceSegment, SegmentPlaced, UploadBegun, UploadCommitted,
};
use data_encoding::BASE64URL_NOPAD;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::fleet::Fleet;
use crate::http::Api;
use crate::latency::Tally;
use crate::seed::{random_metadata, random_path};

/// The client's default segment size (`DriveOptions::default`), which sets piece sizes.
pub const SEGMENT_SIZE: u64 = 16 << 20;
/// The AEAD tag each sealed segment carries.
const TAG: u64 = 16;

/// The size of each piece of a full segment under `redundancy`: the sealed segment cut in `k`,
/// rounded up to even as the erasure codec does.
pub fn piece_size(redundancy: Redundancy) -> u64 {
    let size = (SEGMENT_SIZE + TAG).div_ceil(u64::from(redundancy.k()));
    size + size % 2
}

/// What every workload shares.
#[derive(Clone)]
pub struct Load {
    /// The pool's API.
    pub api: Api,
    /// The simulated peers and accounts.
    pub fleet: Arc<Fleet>,
}

/// Sends one request and records its outcome in `tally`; the answer if it succeeded.
async fn timed<T>(
    tally: &mut Tally,
    request: impl Future<Output = Result<T, crate::http::Failure>>,
) -> Option<T> {
    let started = Instant::now();
    match request.await {
        Ok(answer) => {
            tally.ok(started.elapsed());
            Some(answer)
        }
        Err(e) => {
            tally.failed(e.reason());
            None
        }
    }
}

/// Collects every task's tally.
async fn gather(mut tasks: JoinSet<Tally>) -> anyhow::Result<Tally> {
    let mut total = Tally::default();
    while let Some(done) = tasks.join_next().await {
        total.merge(done.context("a load task stopped")?);
    }
    Ok(total)
}

impl Load {
    /// Every peer registers once, with its inventory, `connections` at a time.
    pub async fn register(&self, connections: usize) -> anyhow::Result<Tally> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (load, next) = (self.clone(), next.clone());
            tasks.spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(peer) = load.fleet.peers.get(i) else {
                        return tally;
                    };
                    let body = peer.registration();
                    let sent =
                        load.api
                            .post::<_, PeerRegistered>(&peer.key, paths::PEER_REGISTER, &body);
                    if let Some(answer) = timed(&mut tally, sent).await
                        && answer.peer != peer.id
                    {
                        tally.failed("registered as another peer".into());
                    }
                }
            });
        }
        gather(tasks).await
    }

    /// Peers heartbeat round-robin, `connections` at a time with no pause, until `until`.
    pub async fn heartbeats(&self, connections: usize, until: Instant) -> anyhow::Result<Tally> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (load, next) = (self.clone(), next.clone());
            tasks.spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed) % load.fleet.peers.len();
                    load.heartbeat(i, &mut tally).await;
                }
                tally
            });
        }
        gather(tasks).await
    }

    /// One heartbeat of peer `i`; the pool's answer is taken in as a peer would.
    async fn heartbeat(&self, i: usize, tally: &mut Tally) {
        let peer = &self.fleet.peers[i];
        let body = peer.heartbeat();
        let sent = self
            .api
            .post::<_, HeartbeatAck>(&peer.key, paths::PEER_HEARTBEAT, &body);
        match timed(tally, sent).await {
            Some(ack) => {
                peer.answered(&ack);
                if ack.state != cairn_proto::PeerState::Online {
                    tally.failed(format!("answered state {}", ack.state));
                }
            }
            None => peer.unsent(body.deleted),
        }
    }

    /// Every peer heartbeats once per `interval`, spread evenly, over `workers` tasks, until
    /// stopped; a worker that falls behind sends back to back, so the rate reached shows
    /// whether the pool keeps up.
    pub fn background(&self, interval: Duration, workers: usize) -> Background {
        let (stop, stopped) = watch::channel(false);
        let peers = self.fleet.peers.len();
        let workers = workers.clamp(1, peers.max(1));
        // Each worker beats its peers `i ≡ w (mod workers)` in turn.
        let step = interval.mul_f64(workers as f64 / peers.max(1) as f64);
        let start = tokio::time::Instant::now();
        let mut tasks = JoinSet::new();
        for w in 0..workers {
            let load = self.clone();
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                let mut tally = Tally::default();
                let mut due = start + step.mul_f64(w as f64 / workers as f64);
                let mut i = w;
                loop {
                    tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return tally,
                        () = tokio::time::sleep_until(due) => {}
                    }
                    load.heartbeat(i, &mut tally).await;
                    due += step;
                    i += workers;
                    if i >= peers {
                        i = w;
                    }
                }
            });
        }
        Background { stop, tasks }
    }

    /// Accounts `0..uploaders` each begin uploads and place one segment of each, back to
    /// back, until `until`; answers the begin and place tallies and what was placed.
    pub async fn place(
        &self,
        uploaders: usize,
        redundancy: RedundancyPolicy,
        until: Instant,
    ) -> anyhow::Result<Placements> {
        let mut tasks = JoinSet::new();
        for account in 0..uploaders.min(self.fleet.accounts.len()) {
            let load = self.clone();
            tasks.spawn(async move {
                let mut out = Placements::default();
                while Instant::now() < until {
                    if let Some(placed) = load.place_one(account, redundancy, &mut out).await {
                        out.placed.push(placed);
                    }
                }
                out
            });
        }
        let mut total = Placements::default();
        while let Some(done) = tasks.join_next().await {
            let done = done.context("an uploader stopped")?;
            total.begin.merge(done.begin);
            total.place.merge(done.place);
            total.placed.extend(done.placed);
        }
        Ok(total)
    }

    /// Begins one upload as `account` and places its only segment, as the client does:
    /// under `auto`, `begin` resolves the redundancy and `place` follows; under a
    /// concrete redundancy, `begin` places segment 0 itself.
    async fn place_one(
        &self,
        account: usize,
        redundancy: RedundancyPolicy,
        out: &mut Placements,
    ) -> Option<Placed> {
        let key = &self.fleet.accounts[account];
        let segment = |chosen: Redundancy| {
            let fragments: Vec<FragmentInfo> = (0..chosen.fragments())
                .map(|fragment| FragmentInfo {
                    fragment,
                    hash: PieceHash::from_bytes(rand::random()),
                })
                .collect();
            PlaceSegment {
                piece_size: piece_size(chosen),
                fragments,
            }
        };
        let first_segment = match redundancy {
            RedundancyPolicy::Fixed(chosen) => Some(segment(chosen)),
            RedundancyPolicy::Auto => None,
        };
        let begin = BeginUpload {
            path: random_path(),
            redundancy: redundancy.to_string(),
            first_segment: first_segment.clone(),
            object: None,
        };
        let sent = self.api.post::<_, UploadBegun>(key, paths::UPLOADS, &begin);
        let begun = timed(&mut out.begin, sent).await?;
        let Ok(RedundancyPolicy::Fixed(chosen)) = RedundancyPolicy::from_str(&begun.redundancy)
        else {
            out.begin
                .failed(format!("answered redundancy {:?}", begun.redundancy));
            return None;
        };
        let (asked, placed) = match (first_segment, begun.placed) {
            (Some(asked), Some(placed)) => (asked, placed),
            (Some(_), None) => {
                out.begin.failed("answered without the placement".into());
                return None;
            }
            (None, _) => {
                let asked = segment(chosen);
                let path = paths::place_segment_path(&begun.upload, 0);
                let sent = self.api.post::<_, SegmentPlaced>(key, &path, &asked);
                let placed = timed(&mut out.place, sent).await?;
                (asked, placed)
            }
        };
        let mut targets = Vec::with_capacity(placed.targets.len());
        for target in placed.targets {
            let order = &target.order.order;
            let hash = asked
                .fragments
                .get(usize::from(target.fragment))
                .map(|f| f.hash);
            if order.peer != target.peer || Some(order.piece) != hash {
                out.place
                    .failed("an order for another peer or piece".into());
                return None;
            }
            targets.push((target.fragment, target.peer, order.piece, order.serial));
        }
        Some(Placed {
            account,
            upload: begun.upload,
            redundancy: chosen,
            piece_size: asked.piece_size,
            targets,
        })
    }

    /// Commits every placed upload with its segment's receipts, one task per account (as
    /// each account's client would); answers the tally.
    pub async fn commit(&self, placed: Vec<Placed>) -> anyhow::Result<Tally> {
        let mut by_account: Vec<Vec<Placed>> = Vec::new();
        for p in placed {
            if by_account.len() <= p.account {
                by_account.resize_with(p.account + 1, Vec::new);
            }
            by_account[p.account].push(p);
        }
        let mut tasks = JoinSet::new();
        for uploads in by_account.into_iter().filter(|u| !u.is_empty()) {
            let load = self.clone();
            tasks.spawn(async move {
                let mut tally = Tally::default();
                for upload in uploads {
                    load.commit_one(upload, &mut tally).await;
                }
                tally
            });
        }
        gather(tasks).await
    }

    /// Commits one upload: the object and its only (so last) segment in one call carrying
    /// every piece's receipt, as the client commits a one-segment file.
    async fn commit_one(&self, upload: Placed, tally: &mut Tally) {
        let key = &self.fleet.accounts[upload.account];
        let mut pieces = Vec::with_capacity(upload.targets.len());
        for &(fragment, peer, hash, serial) in &upload.targets {
            // What the peer signs once it has checked the piece it received.
            let Some(receipt) = self.fleet.receipt(peer, hash, upload.piece_size, serial) else {
                tally.failed("placed on a peer that is not simulated".into());
                return;
            };
            pieces.push(CommittedPiece { fragment, receipt });
        }
        let body = CommitUpload {
            metadata: BASE64URL_NOPAD.encode(&random_metadata(upload.redundancy)),
            size: upload.piece_size * pieces.len() as u64,
            segment_count: 1,
            last_segment: Some(LastSegment { index: 0, pieces }),
        };
        let path = paths::commit_upload_path(&upload.upload);
        let sent = self.api.post::<_, UploadCommitted>(key, &path, &body);
        timed(tally, sent).await;
    }
}

/// Heartbeats running in the background until [`Background::finish`].
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<Tally>,
}

impl Background {
    /// Stops the heartbeats; answers their tally.
    pub async fn finish(self) -> anyhow::Result<Tally> {
        let _ = self.stop.send(true);
        gather(self.tasks).await
    }
}

/// One segment placed and not yet committed.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The account's index.
    pub account: usize,
    /// The upload's id.
    pub upload: String,
    /// Its redundancy.
    pub redundancy: Redundancy,
    /// Its pieces' size.
    pub piece_size: u64,
    /// Every target: fragment, peer, piece and the put order's serial.
    pub targets: Vec<(u16, PeerId, PieceHash, OrderSerial)>,
}

/// What a placing phase did.
#[derive(Debug, Default)]
pub struct Placements {
    /// `POST /v1/uploads`.
    pub begin: Tally,
    /// `POST /v1/uploads/{id}/segments/0/place` (under `auto` only).
    pub place: Tally,
    /// The segments placed.
    pub placed: Vec<Placed>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_a_sealed_segment_cut_in_k_and_even() {
        let redundancy = Redundancy::ec(4, 2).unwrap();
        let size = piece_size(redundancy);
        assert_eq!(size % 2, 0);
        assert!(size * 4 >= SEGMENT_SIZE + TAG);
        assert!(size * 4 < SEGMENT_SIZE + TAG + 8);
        assert_eq!(piece_size(Redundancy::ec(3, 1).unwrap()) % 2, 0);
    }
}
