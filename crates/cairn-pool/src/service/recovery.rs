//! Giving an account's forgotten records back: finding its ledger pieces among what peers
//! said they hold, and importing the records its client read there (see
//! `store::RecoveryStore` and `cairn_core::ledger`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use cairn_core::ledger::Locator;
use cairn_core::{AccountId, PeerId, RedundancyPolicy};
use cairn_proto::api::{
    FindLedger, GetTarget, ImportObject, ImportObjects, ImportOutcome, LedgerFound, LedgerSource,
    ObjectsImported,
};
use cairn_proto::limits::{
    MAX_IMPORT, MAX_METADATA, MAX_METADATA_TEXT, MAX_PIECE_SIZE, MAX_SEGMENTS,
};
use cairn_proto::{Holder, OrderAction, PeerAddr};
use data_encoding::BASE64URL_NOPAD;

use super::{Invalid, ObjectError, check_path};
use crate::app::App;
use crate::state::PeerState;
use crate::store::{ImportState, ImportedObject, ImportedSegment, MetadataStore};

/// The recovery service over a pool's state.
pub struct Recovery<'a, S> {
    app: &'a Arc<App<S>>,
}

impl<'a, S: MetadataStore> Recovery<'a, S> {
    /// The service over `app`.
    pub fn new(app: &'a Arc<App<S>>) -> Self {
        Self { app }
    }

    /// The ledger pieces under the asked locator that peers able to serve said they hold,
    /// each with get orders for `account`.
    pub async fn find_ledger(
        &self,
        account: AccountId,
        body: FindLedger,
    ) -> Result<LedgerFound, ObjectError> {
        let app = self.app;
        let locator = Locator::parse(&body.locator)
            .ok_or_else(|| Invalid::new("the locator is not 32 lowercase hex digits"))?;
        let limit = u32::try_from(MAX_IMPORT * 4).unwrap_or(u32::MAX);
        let rows = app
            .store
            .ledger_held(*locator.as_bytes(), body.after, limit)
            .await?;
        let more = rows.len() as u64 == u64::from(limit);
        let peers: HashMap<PeerId, _> = app
            .store
            .peers()
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let holder = Holder::Account(account);
        let expires_at = App::<S>::expiry(app.now_ms(), app.config.order_ttl);
        let mut pieces: Vec<LedgerSource> = Vec::new();
        for (hash, size, peer) in rows {
            if pieces.last().is_none_or(|last| last.hash != hash) {
                if pieces.len() == MAX_IMPORT {
                    return Ok(LedgerFound { pieces, more: true });
                }
                pieces.push(LedgerSource {
                    hash,
                    size,
                    holders: Vec::new(),
                });
            }
            let Some(record) = peers.get(&peer) else {
                continue;
            };
            if matches!(
                record.state,
                PeerState::Lost | PeerState::Left | PeerState::Disqualified
            ) {
                continue;
            }
            let Ok(address) = PeerAddr::parse(&record.address) else {
                continue;
            };
            let order = app.order(peer, hash, OrderAction::Get, size, holder, expires_at)?;
            if let Some(last) = pieces.last_mut() {
                last.holders.push(GetTarget {
                    fragment: 0,
                    hash,
                    peer,
                    address,
                    state: record.state,
                    order,
                });
            }
        }
        Ok(LedgerFound { pieces, more })
    }

    /// Imports each record the pool does not have, placing its pieces on the peers that
    /// said they hold them; one outcome per record. A malformed record refuses the whole
    /// request before anything changes.
    pub async fn import(
        &self,
        account: AccountId,
        body: ImportObjects,
    ) -> Result<ObjectsImported, ObjectError> {
        if body.objects.len() > MAX_IMPORT {
            return Err(Invalid(format!(
                "{} records in one request; at most {MAX_IMPORT}",
                body.objects.len()
            ))
            .into());
        }
        let objects = body
            .objects
            .into_iter()
            .map(checked)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<_> = objects.iter().map(|o| o.id).collect();
        let imported = self
            .app
            .store
            .import_objects(account, objects, self.app.now_ms())
            .await?;
        let mut outcomes = Vec::with_capacity(imported.len());
        for (id, imported) in ids.into_iter().zip(imported) {
            let state = match imported.state {
                ImportState::Imported => "imported",
                ImportState::Known => "known",
                ImportState::Taken => "taken",
            };
            if imported.state == ImportState::Imported {
                tracing::info!(
                    account = %account,
                    object = %id,
                    placed = imported.placed,
                    awaited = imported.awaited,
                    "a record was given back"
                );
            }
            outcomes.push(ImportOutcome {
                state: state.to_owned(),
                placed: imported.placed,
                awaited: imported.awaited,
            });
        }
        Ok(ObjectsImported { objects: outcomes })
    }
}

/// A record given back, checked as a commit would be.
fn checked(object: ImportObject) -> Result<ImportedObject, Invalid> {
    check_path(&object.path)?;
    let redundancy = match RedundancyPolicy::from_str(&object.redundancy) {
        Ok(RedundancyPolicy::Fixed(r)) => r,
        Ok(RedundancyPolicy::Auto) => {
            return Err(Invalid::new(
                "a record given back names its concrete redundancy, not auto",
            ));
        }
        Err(e) => return Err(Invalid(e.to_string())),
    };
    if object.metadata.len() > MAX_METADATA_TEXT {
        return Err(Invalid(format!(
            "the metadata is larger than {MAX_METADATA} bytes"
        )));
    }
    let metadata = BASE64URL_NOPAD
        .decode(object.metadata.as_bytes())
        .map_err(|_| Invalid::new("the metadata is not unpadded base64url"))?;
    if object.segments.len() as u64 > u64::from(MAX_SEGMENTS) {
        return Err(Invalid(format!(
            "an object has at most {MAX_SEGMENTS} segments"
        )));
    }
    let mut segments = Vec::with_capacity(object.segments.len());
    for (at, segment) in object.segments.into_iter().enumerate() {
        if u64::from(segment.index) != at as u64 {
            return Err(Invalid(format!(
                "segment {} is listed where segment {at} belongs",
                segment.index
            )));
        }
        if segment.fragments.len() != usize::from(redundancy.fragments()) {
            return Err(Invalid(format!(
                "segment {} lists {} fragments; {redundancy} has {}",
                segment.index,
                segment.fragments.len(),
                redundancy.fragments()
            )));
        }
        if segment.piece_size == 0 || segment.piece_size > MAX_PIECE_SIZE {
            return Err(Invalid(format!(
                "segment {}'s piece size {} is not between 1 and {MAX_PIECE_SIZE}",
                segment.index, segment.piece_size
            )));
        }
        segments.push(ImportedSegment {
            index: segment.index,
            piece_size: segment.piece_size,
            fragments: segment.fragments,
        });
    }
    Ok(ImportedObject {
        id: object.object,
        path: object.path,
        redundancy,
        size: object.size,
        metadata,
        segments,
    })
}
