//! The edge where the services' domain errors become wire refusals: an HTTP status and a
//! stable code from [`cairn_proto::codes`] for each, the error's sentence as the message.
//! Failures inside the pool go to the log and reach the wire only as `internal`.

use axum::http::StatusCode;
use cairn_proto::codes;

use crate::app::SignError;
use crate::error::ApiError;
use crate::repair::RepairError;
use crate::service::{Invalid, ObjectError, PeerError, ShareServiceError, UploadError};

impl From<Invalid> for ApiError {
    fn from(error: Invalid) -> Self {
        Self::bad_request(error.0)
    }
}

impl From<SignError> for ApiError {
    fn from(error: SignError) -> Self {
        Self::internal("signing an order", &error)
    }
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        let message = error.to_string();
        match error {
            UploadError::Invalid(invalid) => invalid.into(),
            UploadError::BadRedundancy(_) => {
                Self::new(StatusCode::BAD_REQUEST, codes::BAD_REDUNDANCY, message)
            }
            UploadError::NotFound(_) => Self::not_found(codes::UPLOAD_NOT_FOUND, message),
            UploadError::NetworkTooSmall(placement) => placement.into(),
            UploadError::OverQuota { .. } => {
                Self::new(StatusCode::FORBIDDEN, codes::QUOTA_EXCEEDED, message)
            }
            UploadError::SegmentNotPlaced(_) => {
                Self::new(StatusCode::CONFLICT, codes::SEGMENT_NOT_PLACED, message)
            }
            UploadError::BadCommit(_) => {
                Self::new(StatusCode::BAD_REQUEST, codes::BAD_COMMIT, message)
            }
            UploadError::Store(store) => store.into(),
            UploadError::Sign(sign) => sign.into(),
        }
    }
}

impl From<ObjectError> for ApiError {
    fn from(error: ObjectError) -> Self {
        let message = error.to_string();
        match error {
            ObjectError::Invalid(invalid) => invalid.into(),
            ObjectError::NotFound(_) => Self::not_found(codes::OBJECT_NOT_FOUND, message),
            ObjectError::PieceNotFound { .. } => Self::not_found(codes::PIECE_NOT_FOUND, message),
            ObjectError::Store(store) => store.into(),
            ObjectError::Sign(sign) => sign.into(),
        }
    }
}

impl From<RepairError> for ApiError {
    fn from(error: RepairError) -> Self {
        let message = error.to_string();
        match error {
            RepairError::JobNotFound(_) | RepairError::NotThisPeers(_) => {
                Self::not_found(codes::REPAIR_NOT_FOUND, message)
            }
            RepairError::NoTarget => Self::internal("planning a repair", &message),
            RepairError::Sign(sign) => sign.into(),
            RepairError::Store(store) => store.into(),
        }
    }
}

impl From<PeerError> for ApiError {
    fn from(error: PeerError) -> Self {
        let message = error.to_string();
        match error {
            PeerError::Invalid(invalid) => invalid.into(),
            PeerError::Disqualified => {
                Self::new(StatusCode::FORBIDDEN, codes::PEER_DISQUALIFIED, message)
            }
            PeerError::NotRegistered | PeerError::NotFound => {
                Self::not_found(codes::PEER_NOT_FOUND, message)
            }
            PeerError::Repair(repair) => repair.into(),
            PeerError::Store(store) => store.into(),
            PeerError::Sign(sign) => sign.into(),
        }
    }
}

impl From<ShareServiceError> for ApiError {
    fn from(error: ShareServiceError) -> Self {
        let message = error.to_string();
        match error {
            ShareServiceError::Invalid(invalid) => invalid.into(),
            ShareServiceError::NotFound(_) => Self::not_found(codes::SHARE_NOT_FOUND, message),
            ShareServiceError::WrongToken(_) => {
                Self::new(StatusCode::FORBIDDEN, codes::SHARE_WRONG_TOKEN, message)
            }
            ShareServiceError::Revoked(_) => {
                Self::new(StatusCode::GONE, codes::SHARE_REVOKED, message)
            }
            ShareServiceError::Expired(_) => {
                Self::new(StatusCode::GONE, codes::SHARE_EXPIRED, message)
            }
            ShareServiceError::Exhausted(_) => {
                Self::new(StatusCode::GONE, codes::SHARE_EXHAUSTED, message)
            }
            ShareServiceError::AlreadyExists(_) => {
                Self::new(StatusCode::CONFLICT, codes::ALREADY_EXISTS, message)
            }
            ShareServiceError::ObjectNotFound(_) => {
                Self::not_found(codes::OBJECT_NOT_FOUND, message)
            }
            ShareServiceError::Store(store) => store.into(),
            ShareServiceError::Sign(sign) => sign.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refusal_says_what_is_used_and_needed() {
        let refused = ApiError::from(UploadError::OverQuota {
            used: 60,
            needed: 41,
            quota: 100,
        });
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.code, codes::QUOTA_EXCEEDED);
        assert!(refused.message.contains("use 60 of its 100 bytes"));
        assert!(refused.message.contains("needs 41 more"));
    }

    #[test]
    fn no_such_thing_is_404_not_found() {
        let cases = [
            ApiError::from(ObjectError::NotFound("p".into())),
            ApiError::from(PeerError::NotFound),
            ApiError::from(PeerError::NotRegistered),
            ApiError::from(RepairError::JobNotFound("j".into())),
            ApiError::from(PeerError::Repair(RepairError::NotThisPeers("j".into()))),
        ];
        for refused in cases {
            assert_eq!(refused.status, StatusCode::NOT_FOUND);
            assert!(refused.code.ends_with("_not_found"), "{}", refused.code);
        }
    }
}
