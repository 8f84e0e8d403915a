//! The simulated peers and accounts: Ed25519 identities derived from a seed (so a seeded
//! data directory can be measured again), a fake address each, and what each peer says
//! about itself. A simulated peer has no piece store and no server: it registers, heartbeats
//! and signs receipts, which is all the pool sees of a peer between audits.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use cairn_core::{AccountId, PeerId, PieceHash};
use cairn_proto::api::{Heartbeat, HeartbeatAck, LedgerPiece, RegisterPeer};
use cairn_proto::{OrderSerial, PeerAddr, Receipt};
use ed25519_dalek::SigningKey;

/// Bytes each simulated peer offers: so much that every peer's utilisation stays near zero
/// and equal, so the rebalancer never finds a reason to move a piece.
pub const CAPACITY: u64 = 16 << 40;

/// A key derived from the run's seed, a role and an index.
fn derived_key(seed: u64, role: &str, index: usize) -> SigningKey {
    let mut input = Vec::with_capacity(16);
    input.extend_from_slice(&seed.to_be_bytes());
    input.extend_from_slice(&(index as u64).to_be_bytes());
    let context = format!("cairn pool-scale {role} key v1");
    SigningKey::from_bytes(&blake3::derive_key(&context, &input))
}

/// Peer `index`'s address: `http://127.A.B.1:1`, on loopback so a probe or audit is refused
/// at once, and in a /24 of its own, so every peer is its own failure domain (as on the
/// internet) and placement never has to crowd a segment into one.
pub fn address(index: usize) -> PeerAddr {
    let ip = std::net::Ipv4Addr::new(127, (index >> 8) as u8, index as u8, 1);
    PeerAddr::from_socket(false, (ip, 1).into())
}

/// One simulated peer.
pub struct SimPeer {
    /// Its identity.
    pub key: SigningKey,
    /// Its id, the key's public half.
    pub id: PeerId,
    /// Its advertised base URL (never served).
    pub address: PeerAddr,
    /// Pieces it holds, as the pool's records say.
    pub inventory: Vec<PieceHash>,
    /// Bytes those pieces use.
    pub used: u64,
    /// Pieces the pool ordered deleted, to report in the next heartbeat.
    deleted: Mutex<Vec<PieceHash>>,
    /// Ledger pieces it holds (reported at registration with their locators).
    pub ledger: Mutex<Vec<LedgerPiece>>,
}

impl SimPeer {
    /// What it sends to register: its address, capacity and whole inventory, as a real
    /// peer does on every start.
    pub fn registration(&self) -> RegisterPeer {
        RegisterPeer {
            address: self.address.clone(),
            zone: None,
            capacity: CAPACITY,
            used: self.used,
            pieces: self.inventory.clone(),
            ledger: self
                .ledger
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn deleted(&self) -> MutexGuard<'_, Vec<PieceHash>> {
        // A panic while holding the list cannot leave it half changed.
        self.deleted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What it sends each heartbeat: with the pieces deleted on the pool's word since the
    /// last one, as a real peer reports them.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            used: self.used,
            piece_count: self.inventory.len() as u64,
            load: 0,
            deleted: std::mem::take(&mut *self.deleted()),
        }
    }

    /// Takes in the pool's answer: every delete order is carried out (there is nothing to
    /// delete) and reported next time.
    pub fn answered(&self, ack: &HeartbeatAck) {
        self.deleted()
            .extend(ack.delete.iter().map(|order| order.order.piece));
    }

    /// A heartbeat carrying `deleted` failed: report them next time.
    pub fn unsent(&self, deleted: Vec<PieceHash>) {
        self.deleted().extend(deleted);
    }
}

/// Every simulated peer and account of a run.
pub struct Fleet {
    /// The peers, by index.
    pub peers: Vec<SimPeer>,
    /// The accounts' keys, by index.
    pub accounts: Vec<SigningKey>,
    by_id: HashMap<PeerId, usize>,
}

impl Fleet {
    /// `peers` peers and `accounts` accounts derived from `seed`, holding nothing yet.
    pub fn new(seed: u64, peers: usize, accounts: usize) -> Self {
        let peers: Vec<SimPeer> = (0..peers)
            .map(|i| {
                let key = derived_key(seed, "peer", i);
                SimPeer {
                    id: PeerId::from_verifying_key(&key.verifying_key()),
                    key,
                    address: address(i),
                    inventory: Vec::new(),
                    used: 0,
                    deleted: Mutex::new(Vec::new()),
                    ledger: Mutex::new(Vec::new()),
                }
            })
            .collect();
        let by_id = peers.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        Self {
            peers,
            accounts: (0..accounts)
                .map(|i| derived_key(seed, "account", i))
                .collect(),
            by_id,
        }
    }

    /// The peers' ids, by index.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.peers.iter().map(|p| p.id).collect()
    }

    /// The accounts' ids, by index.
    pub fn account_ids(&self) -> Vec<AccountId> {
        self.accounts
            .iter()
            .map(|k| AccountId::from_verifying_key(&k.verifying_key()))
            .collect()
    }

    /// Peer `id`'s receipt for `piece` of `size` bytes stored under order `serial`, as the
    /// peer signs it after checking the bytes; `None` if `id` is not one of ours.
    pub fn receipt(
        &self,
        id: PeerId,
        piece: PieceHash,
        size: u64,
        serial: OrderSerial,
    ) -> Option<Receipt> {
        let peer = &self.peers[*self.by_id.get(&id)?];
        Some(Receipt::sign(&peer.key, piece, size, serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_reproducible_and_distinct() {
        let a = Fleet::new(7, 3, 2);
        let b = Fleet::new(7, 3, 2);
        assert_eq!(a.peer_ids(), b.peer_ids());
        assert_eq!(a.account_ids(), b.account_ids());
        assert_ne!(a.peer_ids(), Fleet::new(8, 3, 2).peer_ids());
        let mut ids = a.peer_ids();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        // A peer key never doubles as an account key.
        assert_ne!(a.peers[0].key.to_bytes(), a.accounts[0].to_bytes());
    }

    #[test]
    fn every_peer_has_its_own_subnet() {
        assert_eq!(address(0), "http://127.0.0.1:1");
        assert_eq!(address(257), "http://127.1.1.1:1");
        let subnets: std::collections::HashSet<String> = (0..10_000)
            .map(|i| address(i).trim_end_matches(".1:1").to_owned())
            .collect();
        assert_eq!(subnets.len(), 10_000);
    }

    #[test]
    fn deletions_are_reported_once_in_the_next_heartbeat_even_after_a_failure() {
        use cairn_core::PoolId;
        use cairn_proto::{Holder, Order, OrderAction, OrderSigner, PeerState};
        let fleet = Fleet::new(2, 1, 0);
        let peer = &fleet.peers[0];
        let pool_key = SigningKey::from_bytes(&[7; 32]);
        let piece = PieceHash::from_bytes([3; 32]);
        let order = OrderSigner::new(pool_key.clone())
            .sign(Order {
                pool: PoolId::from_verifying_key(&pool_key.verifying_key()),
                peer: peer.id,
                piece,
                action: OrderAction::Delete,
                max_size: 0,
                holder: Holder::Peer(peer.id),
                serial: OrderSerial(1),
                expires_at: u64::from(u32::MAX),
            })
            .unwrap();
        assert!(peer.heartbeat().deleted.is_empty());
        peer.answered(&HeartbeatAck {
            state: PeerState::Online,
            delete: vec![order],
            repairs: Vec::new(),
            index: None,
        });
        let lost = peer.heartbeat();
        assert_eq!(lost.deleted, vec![piece]);
        peer.unsent(lost.deleted);
        assert_eq!(peer.heartbeat().deleted, vec![piece]);
        assert!(peer.heartbeat().deleted.is_empty());
    }

    #[test]
    fn receipts_verify_and_name_their_peer() {
        let fleet = Fleet::new(1, 2, 1);
        let piece = PieceHash::from_bytes([5; 32]);
        let receipt = fleet
            .receipt(fleet.peers[1].id, piece, 42, OrderSerial(9))
            .unwrap();
        receipt.verify().unwrap();
        assert_eq!(receipt.peer, fleet.peers[1].id);
        let stranger =
            PeerId::from_verifying_key(&SigningKey::from_bytes(&[1; 32]).verifying_key());
        assert!(fleet.receipt(stranger, piece, 42, OrderSerial(9)).is_none());
    }
}
