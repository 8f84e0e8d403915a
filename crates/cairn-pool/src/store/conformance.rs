//! The behaviour every metadata-store backend must show, written once against the trait and
//! public (behind the `conformance` feature) so that any backend crate runs it: one line,
//! `cairn_pool::store_conformance_tests!(make);`, where `make()` returns `(store, guard)` and
//! `guard` keeps the backend's resources (a temp dir, a test database) alive for the test,
//! generates one `#[tokio::test]` per case (the crate needs `tokio` with `macros` and
//! `rt-multi-thread`). The case list is written once, in `__store_conformance_cases!` (at
//! the end of this file): a case function not listed there is dead code (a warning, an
//! error under clippy), and [`CASES`], the public case functions and the generated tests
//! are derived from it.
//!
//! The cases are grouped by area, as the trait is: `registry`, `objects`, `deletions`,
//! `repair`, `recovery`, `shares`, and `races`, where concurrent calls must keep invariant 2 (no peer ever holds
//! two pieces of one segment) at whatever isolation level the backend runs.

mod deletions;
mod objects;
mod races;
mod recovery;
mod registry;
mod repair;
mod shares;

use cairn_core::{AccountId, PeerId, PieceHash, Redundancy};
use ed25519_dalek::SigningKey;

use super::*;
use crate::state::PeerState;

/// The test peer number `n` (a fixed key per number).
pub fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

/// The test account number `n` (a fixed key per number).
pub fn account(n: u8) -> AccountId {
    AccountId::from_verifying_key(&SigningKey::from_bytes(&[100 + n; 32]).verifying_key())
}

/// Peer `n`'s registration: 1 GiB free, zone `z{n}`.
fn registration(n: u8) -> PeerRegistration {
    PeerRegistration {
        id: peer(n),
        address: format!("http://127.0.0.{n}:7000"),
        zone: Some(format!("z{n}")),
        capacity: 1 << 30,
        used: 0,
        piece_count: 0,
    }
}

/// The hash of fragment `fragment` of segment `segment` in the fixtures.
fn hash(segment: u32, fragment: u16) -> PieceHash {
    PieceHash::of(format!("{segment}/{fragment}").as_bytes())
}

/// Pieces of segment `segment`: fragment `f` on peer `f + 1` (`ec:2+2`).
fn pieces(segment: u32) -> Vec<PiecePlacement> {
    (0..4u16)
        .map(|f| PiecePlacement {
            segment,
            fragment: f,
            hash: hash(segment, f),
            size: 100,
            peer: peer(f as u8 + 1),
        })
        .collect()
}

/// A new `ec:2+2` upload of `account` at `path`, open for 1000 ms from `now`.
fn new_upload(account: AccountId, path: &str, now: u64) -> NewUpload {
    NewUpload {
        id: ObjectId::random(&mut rand::rng()),
        account,
        path: path.to_owned(),
        redundancy: Redundancy::ec(2, 2).unwrap(),
        created_at: now,
        expires_at: now + 1000,
    }
}

/// Uploads and commits a one-segment object at `path`; returns its id.
pub async fn commit_at<S: MetadataStore>(
    store: &S,
    account: AccountId,
    path: &str,
    now: u64,
) -> ObjectId {
    let upload = new_upload(account, path, now);
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    store.record_placement(id, pieces(0)).await.unwrap();
    store
        .commit_segment(
            account,
            id,
            SegmentCommit {
                index: 0,
                piece_size: 100,
                pieces: pieces(0),
            },
        )
        .await
        .unwrap();
    store
        .commit_object(
            account,
            id,
            CommitObject {
                metadata: b"sealed".to_vec(),
                size: 200,
                segment_count: 1,
            },
            now,
        )
        .await
        .unwrap();
    id
}

/// Four peers and one committed object at `a/b`.
pub async fn committed_object<S: MetadataStore>(store: &S) -> (ObjectId, AccountId) {
    for n in 1..=4 {
        store.register_peer(registration(n), 10).await.unwrap();
    }
    (commit_at(store, account(1), "a/b", 20).await, account(1))
}

/// Segment `index` committed with `pieces` of 100 bytes.
fn commit_of(index: u32, pieces: Vec<PiecePlacement>) -> SegmentCommit {
    SegmentCommit {
        index,
        piece_size: 100,
        pieces,
    }
}

/// An object of `segment_count` segments.
fn object_of(segment_count: u32) -> CommitObject {
    CommitObject {
        metadata: b"sealed".to_vec(),
        size: 100 * u64::from(segment_count),
        segment_count,
    }
}

/// Begins an upload of `redundancy` at `path`, commits `segments` (segment `i` is `segments[i]`)
/// and the object; returns its id.
async fn commit_shaped<S: MetadataStore>(
    store: &S,
    account: AccountId,
    path: &str,
    redundancy: Redundancy,
    segments: Vec<Vec<PiecePlacement>>,
) -> ObjectId {
    let upload = NewUpload {
        redundancy,
        ..new_upload(account, path, 10)
    };
    let id = upload.id;
    store.begin_upload(upload).await.unwrap();
    let count = segments.len() as u32;
    for (index, pieces) in segments.into_iter().enumerate() {
        store
            .commit_segment(account, id, commit_of(index as u32, pieces))
            .await
            .unwrap();
    }
    store
        .commit_object(account, id, object_of(count), 20)
        .await
        .unwrap();
    id
}

/// Commits one object per path, then checks that paging through `prefix` with pages of
/// `limit` gives exactly the sorted, byte-wise prefix matches, starting after `after`.
pub async fn listing_matches_model<S: MetadataStore>(
    store: S,
    paths: Vec<String>,
    prefix: String,
    after: Option<String>,
    limit: u32,
) {
    let alice = account(1);
    for path in &paths {
        commit_at(&store, alice, path, 10).await;
    }
    commit_at(&store, account(2), &prefix, 10).await;
    let mut expected: Vec<String> = paths
        .into_iter()
        .filter(|p| p.as_bytes().starts_with(prefix.as_bytes()))
        .filter(|p| after.as_ref().is_none_or(|a| p.as_bytes() > a.as_bytes()))
        .collect();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    expected.dedup();
    let mut listed = Vec::new();
    let mut cursor = after;
    loop {
        let page = store
            .list_objects(alice, prefix.clone(), cursor.clone(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        let full = page.len() == limit as usize;
        listed.extend(page.into_iter().map(|o| o.path));
        if !full || limit == 0 {
            break;
        }
        cursor = listed.last().cloned();
    }
    if limit > 0 {
        assert_eq!(listed, expected);
    } else {
        assert!(listed.is_empty());
    }
}

/// Calls the macro `$then` (exported by this crate) with `{ args }` followed by every
/// conformance case as `area::case`: the one list of cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($then:ident { $($args:tt)* }) => {
        $crate::$then! {
            { $($args)* }
            registry::registration_and_heartbeats,
            registry::health_updates_are_applied,
            registry::registration_updates_details,
            registry::the_index_keeps_its_identity_and_counts_where_pieces_go,
            objects::uncommitted_uploads_are_invisible,
            objects::spare_placements_are_collected_on_commit,
            objects::abort_and_expiry_collect_uploads,
            objects::listing_pages_by_prefix,
            objects::listing_one_level_skips_sub_folders,
            objects::renames_move_objects_atomically,
            objects::uploads_are_checked,
            objects::objects_keep_segment_and_piece_order,
            objects::segment_retries_replace_pieces,
            objects::stats_count_everything,
            objects::folder_renames_may_nest,
            objects::the_empty_path_is_listed,
            objects::objects_may_have_no_segments,
            objects::a_last_segment_commits_with_its_object,
            objects::account_usage_counts_committed_and_placed_pieces,
            deletions::replacing_and_deleting_queue_pieces,
            deletions::shared_pieces_are_deleted_last,
            repair::repair_queue_counts_segments_below_redundancy,
            repair::damaged_segments_are_found_and_repaired,
            repair::a_repair_never_doubles_a_peer_in_a_segment,
            repair::audits_are_tallied_and_pieces_sampled,
            repair::usage_and_segment_cursors,
            races::two_repairs_racing_for_one_peer,
            races::a_repair_and_a_migration_racing_for_one_peer,
            races::racing_segment_commits_leave_one_of_them,
            recovery::records_given_back_find_their_pieces_and_wait_for_the_rest,
            shares::shares_open_while_live_and_share_only_what_they_name,
            shares::a_shared_object_its_owner_removes_is_kept_until_no_live_share_names_it,
        }
    };
}

/// Defines the public case functions (each runs one area's case) and [`CASES`].
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_public_cases {
    ({} $($area:ident :: $case:ident),* $(,)?) => {
        /// The name of every conformance case, in the order they are listed.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];

        $(
            #[doc = concat!("The conformance case `", stringify!($area), "::", stringify!($case), "`.")]
            pub async fn $case<S: MetadataStore>(store: S) {
                $area::$case(store).await
            }
        )*
    };
}

__store_conformance_cases!(__store_conformance_public_cases {});

/// Generates one `#[tokio::test]` per conformance case (see the module documentation).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::__store_conformance_cases!(__store_conformance_tests { $make });
    };
}

/// The tests `store_conformance_tests!` generates, from the case list.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ({ $make:expr } $($area:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = ($make)();
                $crate::store::conformance::$case(store).await;
            }
        )*
    };
}
