//! Self-repair: a checker finds segments that lost pieces (peers lost, departed or
//! disqualified; pieces found damaged), most urgent first, and hands each to a healthy peer
//! as a job — read `k` pieces with get orders, rebuild the missing ones (Reed–Solomon on
//! ciphertext, or a copy for `rep`), store them on newly placed peers with put orders. The
//! peer's report, with the new peers' receipts, swaps the records in one transaction. The
//! pool never touches piece bytes and needs no key.
//!
//! Jobs travel in heartbeat answers; the queue lives in memory (after a restart the checker
//! finds the same segments again, and pieces stored by jobs that never reported are
//! collected as unknown pieces).

mod plan;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cairn_core::PeerId;
use cairn_proto::api::{GetTarget, RepairJob, RepairReport, RepairTarget};
use cairn_proto::{Holder, OrderAction};
use rand::RngCore;

pub use plan::{Plan, Unrepairable, plan};

use crate::app::{App, SignError};
use crate::counters::Counters;
use crate::placement::{self, Candidate, PlacementRequest};
use crate::state::PeerState;
use crate::store::{MetadataStore, ObjectId, PiecePlacement, StoreError};

/// Why a repair job could not be built or its report taken.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// A job was planned with no peer to run it (a bug in the planner).
    #[error("a repair job needs at least one target peer")]
    NoTarget,
    /// The job's orders could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A report names a job the pool does not know (never dispatched, or timed out).
    #[error("repair job {0} is unknown or timed out")]
    JobNotFound(String),
    /// A report names another peer's job.
    #[error("repair job {0} is not this peer's")]
    NotThisPeers(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Damaged segments the checker looks at per pass.
const SCAN_LIMIT: u32 = 10_000;

/// Why a job exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Rebuild pieces that are gone.
    Repair,
    /// Move a healthy piece to another peer (rebalancing, draining, zone spread).
    Migration,
}

/// A job handed out and not yet reported.
#[derive(Debug, Clone)]
struct InFlight {
    kind: JobKind,
    segment: (ObjectId, u32),
    executor: PeerId,
    deadline: Instant,
    piece_size: u64,
    targets: Vec<PiecePlacement>,
    remove: Vec<PeerId>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Jobs waiting for their peer's next heartbeat.
    waiting: HashMap<PeerId, Vec<RepairJob>>,
    /// Jobs handed out or waiting, by id.
    jobs: HashMap<String, InFlight>,
    /// Segments with a job.
    busy: HashSet<(ObjectId, u32)>,
    /// Segments needing repair at the last pass, with or without a job.
    pending: u64,
}

/// The repair queue of a running pool.
#[derive(Debug, Default)]
pub struct Repairs {
    queue: Mutex<Queue>,
    /// One checker pass at a time (the timer's, or one a report triggered).
    pass: tokio::sync::Mutex<()>,
}

impl Repairs {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Jobs for `peer` to run, handed over once.
    pub fn take_for(&self, peer: PeerId) -> Vec<RepairJob> {
        self.lock().waiting.remove(&peer).unwrap_or_default()
    }

    /// Segments needing repair (queued or being repaired), as of the last pass.
    pub fn pending(&self) -> u64 {
        self.lock().pending
    }

    /// Repair jobs handed out or waiting.
    pub fn in_flight(&self) -> u64 {
        self.count(JobKind::Repair)
    }

    /// Migration jobs handed out or waiting.
    pub fn migrations_in_flight(&self) -> u64 {
        self.count(JobKind::Migration)
    }

    fn count(&self, kind: JobKind) -> u64 {
        self.lock().jobs.values().filter(|j| j.kind == kind).count() as u64
    }

    /// Migration jobs moving pieces off `peer` now.
    pub fn migrations_from(&self, peer: PeerId) -> u64 {
        self.lock()
            .jobs
            .values()
            .filter(|j| j.kind == JobKind::Migration && j.remove.contains(&peer))
            .count() as u64
    }

    /// Holds off checker passes and record swaps' release of their segments while a
    /// planner (the rebalancer) reads segments and dispatches jobs: what it reads is then
    /// either current or marked busy.
    pub async fn planning(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.pass.lock().await
    }

    /// Whether segment `index` of `object` has a job (repair or migration) now.
    pub fn is_busy(&self, object: ObjectId, index: u32) -> bool {
        self.lock().busy.contains(&(object, index))
    }

    /// Whether segment `index` of `object` is being repaired now.
    pub fn is_repairing(&self, object: ObjectId, index: u32) -> bool {
        self.lock()
            .jobs
            .values()
            .any(|j| j.kind == JobKind::Repair && j.segment == (object, index))
    }
}

/// How long a job may take before its segment is planned again.
fn job_timeout<S>(app: &App<S>) -> Duration {
    app.config.timers.heartbeat_interval * 10 + Duration::from_secs(60)
}

/// One checker pass: forgets timed-out jobs, plans every damaged segment, and hands the
/// most urgent ones to peers until `max_repairs` are in flight.
pub async fn check<S: MetadataStore>(app: &Arc<App<S>>) -> Result<(), StoreError> {
    let _pass = app.repairs.pass.lock().await;
    let now = Instant::now();
    {
        let mut queue = app.repairs.lock();
        let expired: Vec<String> = (queue.jobs.iter())
            .filter(|(_, job)| job.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(job) = queue.jobs.remove(&id) {
                tracing::warn!(job = %id, executor = %job.executor, kind = ?job.kind, "job timed out");
                queue.busy.remove(&job.segment);
                if let Some(list) = queue.waiting.get_mut(&job.executor) {
                    list.retain(|j| j.job != id);
                }
                Counters::add(failed_counter(app, job.kind), 1);
            }
        }
    }
    let damaged = app.store.damaged_segments(SCAN_LIMIT).await?;
    let records = app.store.peers().await?;
    let states: HashMap<PeerId, PeerState> = records.iter().map(|p| (p.id, p.state)).collect();
    let mut plans = Vec::new();
    for segment in &damaged {
        match plan(segment, &states, app.config.repair_threshold) {
            Ok(Some(p)) => plans.push(p),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                object = %segment.object, segment = segment.segment.index,
                "segment cannot be repaired now: {e}"
            ),
        }
    }
    plans.sort_by_key(|p| p.margin);
    let online: Vec<Candidate> = records
        .iter()
        .filter(|p| p.state == PeerState::Online)
        .map(|p| Candidate {
            id: p.id,
            domain: placement::failure_domain(p.zone.as_deref(), &p.address),
            free: p.free(),
            availability: p.availability,
            rtt_ms: p.rtt_ms,
        })
        .collect();
    let addresses: HashMap<PeerId, String> =
        records.iter().map(|p| (p.id, p.address.clone())).collect();
    let pending = plans.len() as u64;
    for plan in plans {
        {
            let mut queue = app.repairs.lock();
            queue.pending = pending;
            if queue.busy.contains(&(plan.object, plan.index)) {
                continue;
            }
            if queue
                .jobs
                .values()
                .filter(|j| j.kind == JobKind::Repair)
                .count()
                >= app.config.max_repairs
            {
                break;
            }
        }
        let candidates: Vec<Candidate> = online
            .iter()
            .filter(|c| !plan.occupied.contains(&c.id))
            .cloned()
            .collect();
        let chosen = match placement::place(
            &candidates,
            &PlacementRequest {
                pieces: plan.missing.len(),
                piece_size: plan.piece_size,
                spares: 0,
            },
            &mut rand::rng(),
        ) {
            Ok(chosen) => chosen,
            Err(e) => {
                tracing::warn!(
                    object = %plan.object, segment = plan.index,
                    "no peer outside the segment's holders can take its rebuilt pieces: {e}"
                );
                continue;
            }
        };
        dispatch(app, &plan, &chosen.peers, &addresses, JobKind::Repair);
    }
    app.repairs.lock().pending = pending;
    Ok(())
}

/// Hands the job for `plan` onto `targets` to its executor (the first target) at its next
/// heartbeat; the segment is busy until the job reports or times out. Returns whether it
/// went out.
pub fn dispatch<S>(
    app: &App<S>,
    plan: &Plan,
    targets: &[PeerId],
    addresses: &HashMap<PeerId, String>,
    kind: JobKind,
) -> bool {
    match job_for(app, plan, targets, addresses, kind) {
        Ok((job, inflight)) => {
            tracing::info!(
                job = %job.job, executor = %inflight.executor, object = %plan.object,
                segment = plan.index, pieces = plan.missing.len(), ?kind, "job dispatched"
            );
            let mut queue = app.repairs.lock();
            if !queue.busy.insert(inflight.segment) {
                return false;
            }
            queue
                .waiting
                .entry(inflight.executor)
                .or_default()
                .push(job.clone());
            queue.jobs.insert(job.job.clone(), inflight);
            Counters::add(
                match kind {
                    JobKind::Repair => &app.counters.repairs_dispatched,
                    JobKind::Migration => &app.counters.migrations_dispatched,
                },
                1,
            );
            true
        }
        Err(e) => {
            tracing::error!("could not build a job: {e}");
            false
        }
    }
}

fn failed_counter<S>(app: &App<S>, kind: JobKind) -> &std::sync::atomic::AtomicU64 {
    match kind {
        JobKind::Repair => &app.counters.repairs_failed,
        JobKind::Migration => &app.counters.migrations_failed,
    }
}

/// The job for `plan` onto `targets` (one per missing copy), run by the first target.
fn job_for<S>(
    app: &App<S>,
    plan: &Plan,
    targets: &[PeerId],
    addresses: &HashMap<PeerId, String>,
    kind: JobKind,
) -> Result<(RepairJob, InFlight), RepairError> {
    let executor = *targets.first().ok_or(RepairError::NoTarget)?;
    let holder = Holder::Peer(executor);
    let expires_at = App::<S>::expiry(app.now_ms(), job_timeout(app));
    let address = |peer: &PeerId| {
        crate::store::peer_addr(addresses.get(peer).map(String::as_str).unwrap_or_default())
    };
    let sources = plan
        .sources
        .iter()
        .map(|piece| {
            Ok(GetTarget {
                fragment: piece.fragment,
                hash: piece.hash,
                peer: piece.peer,
                address: address(&piece.peer)?,
                state: PeerState::Online,
                order: app.order(
                    piece.peer,
                    piece.hash,
                    OrderAction::Get,
                    plan.piece_size,
                    holder,
                    expires_at,
                )?,
            })
        })
        .collect::<Result<Vec<_>, RepairError>>()?;
    let mut placed = Vec::with_capacity(targets.len());
    let mut repair_targets = Vec::with_capacity(targets.len());
    for (peer, (fragment, hash)) in targets.iter().zip(&plan.missing) {
        repair_targets.push(RepairTarget {
            fragment: *fragment,
            hash: *hash,
            peer: *peer,
            address: address(peer)?,
            order: app.order(
                *peer,
                *hash,
                OrderAction::Put,
                plan.piece_size,
                holder,
                expires_at,
            )?,
        });
        placed.push(PiecePlacement {
            segment: plan.index,
            fragment: *fragment,
            hash: *hash,
            size: plan.piece_size,
            peer: *peer,
        });
    }
    let mut id = [0u8; 12];
    rand::rng().fill_bytes(&mut id);
    let job = RepairJob {
        job: data_encoding::HEXLOWER.encode(&id),
        redundancy: plan.redundancy.to_string(),
        piece_size: plan.piece_size,
        sources,
        targets: repair_targets,
    };
    let inflight = InFlight {
        kind,
        segment: (plan.object, plan.index),
        executor,
        deadline: Instant::now() + job_timeout(app),
        piece_size: plan.piece_size,
        targets: placed,
        remove: plan.remove.clone(),
    };
    Ok((job, inflight))
}

/// Applies a peer's report on its job: the pieces whose receipts check out replace the
/// gone ones, in one store transaction. Returns how many pieces were recorded.
pub async fn report<S: MetadataStore>(
    app: &Arc<App<S>>,
    executor: PeerId,
    report: RepairReport,
) -> Result<usize, RepairError> {
    let job = {
        let mut queue = app.repairs.lock();
        let Some(job) = queue.jobs.get(&report.job) else {
            return Err(RepairError::JobNotFound(report.job));
        };
        if job.executor != executor {
            return Err(RepairError::NotThisPeers(report.job));
        }
        let job = job.clone();
        queue.jobs.remove(&report.job);
        job
    };
    // The segment stays busy until its records are swapped, so no pass plans it again
    // from the old records meanwhile.
    let result = record(app, &report, executor, &job).await;
    {
        // Under the pass lock: a pass already running planned from records read before
        // this swap, and must not see the segment free.
        let _pass = app.repairs.pass.lock().await;
        app.repairs.lock().busy.remove(&job.segment);
    }
    // A peer just freed up: plan the next jobs now rather than at the next tick, so repair
    // runs at the speed of the peers, not of the timer.
    let next = Arc::clone(app);
    tokio::spawn(async move {
        if let Err(e) = check(&next).await {
            tracing::error!("the repair checker failed: {e}");
        }
    });
    result
}

/// Checks a report's receipts against its job and records the pieces that check out.
async fn record<S: MetadataStore>(
    app: &App<S>,
    report: &RepairReport,
    executor: PeerId,
    job: &InFlight,
) -> Result<usize, RepairError> {
    let mut added: Vec<PiecePlacement> = Vec::new();
    let mut seen: HashSet<PeerId> = HashSet::new();
    for piece in &report.pieces {
        let receipt = &piece.receipt;
        let Some(target) = job
            .targets
            .iter()
            .find(|t| t.peer == receipt.peer && t.fragment == piece.fragment)
        else {
            continue;
        };
        let valid = receipt.verify().is_ok()
            && receipt.piece == target.hash
            && receipt.size == job.piece_size
            && seen.insert(receipt.peer);
        if valid {
            added.push(target.clone());
        } else {
            tracing::warn!(job = %report.job, peer = %receipt.peer, "a repair receipt does not check out");
        }
    }
    if let Some(error) = &report.error {
        tracing::warn!(job = %report.job, %executor, "repair fell short: {error}");
    }
    let complete = added.len() == job.targets.len() && report.error.is_none();
    Counters::add(
        match (complete, job.kind) {
            (true, JobKind::Repair) => &app.counters.repairs_completed,
            (true, JobKind::Migration) => &app.counters.migrations_completed,
            (false, kind) => failed_counter(app, kind),
        },
        1,
    );
    if added.is_empty() {
        return Ok(0);
    }
    let count = added.len();
    let bytes = job.piece_size * count as u64;
    let (object, index) = job.segment;
    match app
        .store
        .repair_segment(object, index, job.remove.clone(), added, app.now_ms())
        .await
    {
        Ok(()) => {
            match job.kind {
                JobKind::Repair => {
                    Counters::add(&app.counters.pieces_rebuilt, count as u64);
                    Counters::add(&app.counters.bytes_rebuilt, bytes);
                }
                JobKind::Migration => {
                    Counters::add(&app.counters.pieces_migrated, count as u64);
                    Counters::add(&app.counters.bytes_migrated, bytes);
                }
            }
            tracing::info!(job = %report.job, %object, segment = index, pieces = count, kind = ?job.kind, "job recorded");
            Ok(count)
        }
        Err(StoreError::NotFound(_)) => {
            tracing::info!(job = %report.job, "the repaired object was deleted meanwhile");
            Ok(0)
        }
        Err(StoreError::Conflict(reason)) => {
            tracing::error!(job = %report.job, "a job's pieces were not recorded: {reason}");
            Ok(0)
        }
        Err(e) => Err(e.into()),
    }
}
