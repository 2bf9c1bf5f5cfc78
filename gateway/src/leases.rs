//! Changing a lease (DispoSMS "assignment") after it was made: extending it and
//! releasing it early. Each change is checked against its owner in the same
//! transaction that makes it, and a release writes its `assignment_status` event there
//! too.
//!
//! A lease ends at most [`MAX_LEASE_SECS`] from now: an extension may add time only up
//! to that horizon, the same limit an assignment has when it is made.

use chrono::Duration;
use rusqlite::{params, OptionalExtension};

use crate::events::{self, Event};
use crate::model::Assignment;
use crate::numbers::assignment_by_id;
use crate::{time, Gateway, GatewayResult};

/// The longest a lease may still run, counted from now (DispoSMS: 86400 s).
pub const MAX_LEASE_SECS: i64 = 86_400;

/// Why a lease could not be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseRefusal {
    /// No such lease, or not the caller's: the two are not told apart.
    NotFound,
    /// Its time is up (whether or not the scheduler has marked it yet).
    Expired,
    /// It was released.
    Released,
    /// The extension would end the lease more than [`MAX_LEASE_SECS`] from now;
    /// carries the most seconds that may still be added.
    TooLong { max_extra_secs: i64 },
}

/// A lease after an extension.
#[derive(Debug, Clone)]
pub struct Extended {
    pub assignment: Assignment,
    pub extended_by: i64,
}

/// A lease after its release.
#[derive(Debug, Clone)]
pub struct Released {
    pub assignment_id: i64,
    pub released_at: String,
}

struct LeaseRow {
    user_id: i64,
    status: String,
    expires_at: String,
}

fn lease_row(
    txn: &rusqlite::Transaction<'_>,
    id: i64,
    user_id: Option<i64>,
) -> rusqlite::Result<Option<LeaseRow>> {
    txn.query_row(
        "SELECT user_id, status, expires_at FROM assignments WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        params![id, user_id],
        |r| {
            Ok(LeaseRow {
                user_id: r.get(0)?,
                status: r.get(1)?,
                expires_at: r.get(2)?,
            })
        },
    )
    .optional()
}

fn refusal(row: &LeaseRow, now: &str) -> Option<LeaseRefusal> {
    match row.status.as_str() {
        "released" => Some(LeaseRefusal::Released),
        "expired" => Some(LeaseRefusal::Expired),
        _ if row.expires_at.as_str() <= now => Some(LeaseRefusal::Expired),
        _ => None,
    }
}

impl Gateway {
    /// Adds `extra_secs` to an active lease of `user_id` (`None`: anyone's, for admins).
    pub async fn extend_assignment(
        &self,
        id: i64,
        user_id: Option<i64>,
        extra_secs: i64,
    ) -> GatewayResult<Result<Extended, LeaseRefusal>> {
        let now = time::now();
        let now_iso = time::iso(now);
        let horizon = now + Duration::seconds(MAX_LEASE_SECS);
        Ok(self
            .store
            .write(move |txn| {
                let Some(row) = lease_row(txn, id, user_id)? else {
                    return Ok(Err(LeaseRefusal::NotFound));
                };
                if let Some(r) = refusal(&row, &now_iso) {
                    return Ok(Err(r));
                }
                let Some(current) = time::parse_iso(&row.expires_at) else {
                    return Ok(Err(LeaseRefusal::Expired));
                };
                let new_end = current + Duration::seconds(extra_secs);
                if new_end > horizon {
                    let max_extra_secs = (horizon - current).num_seconds().max(0);
                    return Ok(Err(LeaseRefusal::TooLong { max_extra_secs }));
                }
                txn.execute(
                    "UPDATE assignments SET expires_at = ?1 WHERE id = ?2",
                    params![time::iso(new_end), id],
                )?;
                Ok(Ok(Extended {
                    assignment: assignment_by_id(txn, id)?,
                    extended_by: extra_secs,
                }))
            })
            .await?)
    }

    /// Ends an active lease of `user_id` now; its number is free again at once. The
    /// `assignment_status` event (`released`, previously `active`) is written in the
    /// same transaction and published after the commit.
    pub async fn release_assignment(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> GatewayResult<Result<Released, LeaseRefusal>> {
        let now = time::now_iso();
        let outcome = self
            .store
            .write(move |txn| {
                let Some(row) = lease_row(txn, id, user_id)? else {
                    return Ok(Err(LeaseRefusal::NotFound));
                };
                if let Some(r) = refusal(&row, &now) {
                    return Ok(Err(r));
                }
                txn.execute(
                    "UPDATE assignments SET status = 'released', released_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
                let event = release_event(txn, id, row.user_id, &now)?;
                Ok(Ok((
                    Released {
                        assignment_id: id,
                        released_at: now,
                    },
                    event,
                )))
            })
            .await?;
        Ok(outcome.map(|(released, event)| {
            self.events.publish(event);
            released
        }))
    }
}

fn release_event(
    txn: &rusqlite::Transaction<'_>,
    assignment_id: i64,
    user_id: i64,
    at: &str,
) -> rusqlite::Result<Event> {
    let event_id = events::record(
        txn,
        "assignment_status",
        Some(user_id),
        &serde_json::json!({
            "assignment_id": assignment_id,
            "status": "released",
            "previous_status": "active",
            "changed_at": at,
        }),
        at,
    )?;
    Ok(Event::AssignmentStatus {
        event_id,
        user_id,
        assignment_id,
        status: "released".into(),
        previous_status: "active".into(),
        changed_at: at.into(),
    })
}
