//! The number pool and its exclusive leases (DispoSMS "assignments"), and the
//! scheduler step that expires them on time.

use chrono::Duration;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::events::{self, Event};
use crate::model::{Assignment, Number};
use crate::{time, Gateway, GatewayError, GatewayResult};

/// A number the box can receive on, as the wiring registers it at start.
#[derive(Debug, Clone)]
pub struct NumberRegistration {
    pub number: String,
    /// ISO 3166 alpha-2; derived from the number when `None`.
    pub country: Option<String>,
    /// `modem`, `emulator`, `twilio`, `vonage`.
    pub provider: String,
    /// The modem or provider account that receives on it.
    pub channel: String,
}

#[derive(Debug, Clone, Default)]
pub struct AvailableQuery {
    pub country: Option<String>,
    pub page: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AssignmentQuery {
    pub user_id: i64,
    pub status: Option<String>,
    pub page: u32,
    pub limit: u32,
}

/// ISO 3166 alpha-2 country of an E.164 number, from libphonenumber's metadata.
/// A number outside every region's ranges (fictional +1 555 01xx numbers, a brand-new
/// range) falls back to the main country of its calling code.
pub fn country_of(number: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, number).ok()?;
    if let Some(id) = parsed.country().id() {
        return Some(id.as_ref().to_string());
    }
    let regions = phonenumber::metadata::DATABASE.by_code(&parsed.country().code())?;
    regions
        .iter()
        .find(|m| m.is_main_country_for_code())
        .or(regions.first())
        .map(|m| m.id().to_string())
}

/// Normalises a country filter: upper case, `UK` is `GB` (as the DispoSMS seed writes it).
pub fn normalize_country(code: &str) -> Option<String> {
    let upper = code.trim().to_ascii_uppercase();
    let upper = if upper == "UK" {
        "GB".to_string()
    } else {
        upper
    };
    (upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase())).then_some(upper)
}

const ACTIVE_LEASE: &str =
    "SELECT a.id FROM assignments a WHERE a.number_id = n.id AND a.status = 'active' AND a.expires_at > ?1";

impl Gateway {
    /// Adds or updates a number in the pool (called for each modem SIM and cloud number).
    pub async fn register_number(&self, reg: NumberRegistration) -> GatewayResult<Number> {
        let country = reg
            .country
            .as_deref()
            .and_then(normalize_country)
            .or_else(|| country_of(&reg.number))
            .unwrap_or_else(|| "ZZ".into());
        let now = time::now_iso();
        Ok(self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO numbers (number, country, provider, channel, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(number) DO UPDATE SET country = excluded.country, provider = excluded.provider,
                        channel = excluded.channel, enabled = 1",
                    params![reg.number, country, reg.provider, reg.channel, now],
                )?;
                Ok(txn.query_row(
                    &format!("SELECT {} FROM numbers n WHERE n.number = ?1", Number::COLUMNS),
                    [&reg.number],
                    Number::from_row,
                )?)
            })
            .await?)
    }

    /// Numbers free to assign now; returns the page and the total.
    pub async fn available_numbers(&self, q: AvailableQuery) -> GatewayResult<(Vec<Number>, i64)> {
        let now = time::now_iso();
        Ok(self
            .store
            .read(move |c| {
                let filter = format!(
                    "FROM numbers n WHERE n.enabled = 1 AND NOT EXISTS ({ACTIVE_LEASE}) AND (?2 IS NULL OR n.country = ?2)"
                );
                let total: i64 = c.query_row(
                    &format!("SELECT COUNT(*) {filter}"),
                    params![now, q.country],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare(&format!(
                    "SELECT {} {filter} ORDER BY n.number LIMIT ?3 OFFSET ?4",
                    Number::COLUMNS
                ))?;
                let offset = i64::from(q.page.saturating_sub(1)) * i64::from(q.limit);
                let rows = stmt
                    .query_map(params![now, q.country, q.limit, offset], Number::from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, total))
            })
            .await?)
    }

    /// Leases `number` to `user_id` for `duration_secs`.
    pub async fn assign_number(
        &self,
        user_id: i64,
        number: String,
        duration_secs: i64,
    ) -> GatewayResult<Assignment> {
        let now = time::now();
        let assigned_at = time::iso(now);
        let expires_at = time::iso(now + Duration::seconds(duration_secs));
        self.store
            .write(move |txn| {
                let found: Option<(i64, bool)> = txn
                    .query_row(
                        &format!(
                            "SELECT n.id, n.enabled = 1 AND NOT EXISTS ({ACTIVE_LEASE}) FROM numbers n WHERE n.number = ?2"
                        ),
                        params![assigned_at, number],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((number_id, free)) = found else {
                    return Ok(Err(GatewayError::NotFound("number")));
                };
                if !free {
                    return Ok(Err(GatewayError::NotAvailable(format!(
                        "{number} is assigned to someone else"
                    ))));
                }
                txn.execute(
                    "INSERT INTO assignments (user_id, number_id, assigned_at, expires_at, status) VALUES (?1, ?2, ?3, ?4, 'active')",
                    params![user_id, number_id, assigned_at, expires_at],
                )?;
                let id = txn.last_insert_rowid();
                Ok(Ok(assignment_by_id(txn, id)?))
            })
            .await?
    }

    /// The user's assignments, newest first; returns the page and the total.
    pub async fn assignments(&self, q: AssignmentQuery) -> GatewayResult<(Vec<Assignment>, i64)> {
        Ok(self
            .store
            .read(move |c| {
                let filter = "WHERE a.user_id = ?1 AND (?2 IS NULL OR a.status = ?2)";
                let total: i64 = c.query_row(
                    &format!("SELECT COUNT(*) FROM assignments a {filter}"),
                    params![q.user_id, q.status],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare(&format!(
                    "{} {filter} ORDER BY a.assigned_at DESC, a.id DESC LIMIT ?3 OFFSET ?4",
                    Assignment::SELECT
                ))?;
                let offset = i64::from(q.page.saturating_sub(1)) * i64::from(q.limit);
                let rows = stmt
                    .query_map(
                        params![q.user_id, q.status, q.limit, offset],
                        Assignment::from_row,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, total))
            })
            .await?)
    }

    /// Who holds (or held) an assignment.
    pub async fn assignment_owner(&self, assignment_id: i64) -> GatewayResult<Option<i64>> {
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT user_id FROM assignments WHERE id = ?1",
                    [assignment_id],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?)
    }

    /// Marks every lease whose time is up as expired and announces each change.
    /// Called by the scheduler every second; cheap when nothing is due.
    pub async fn expire_due_assignments(&self) -> GatewayResult<usize> {
        let now = time::now_iso();
        let changed = self
            .store
            .write(move |txn| {
                let mut stmt = txn.prepare(
                    "UPDATE assignments SET status = 'expired' WHERE status = 'active' AND expires_at <= ?1
                     RETURNING id, user_id",
                )?;
                let due = stmt
                    .query_map([&now], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                let mut out = Vec::with_capacity(due.len());
                for (id, user_id) in due {
                    out.push(status_event(txn, id, user_id, "expired", "active", &now)?);
                }
                Ok(out)
            })
            .await?;
        let n = changed.len();
        for event in changed {
            self.events.publish(event);
        }
        Ok(n)
    }
}

fn status_event(
    txn: &Transaction<'_>,
    assignment_id: i64,
    user_id: i64,
    status: &str,
    previous: &str,
    at: &str,
) -> rusqlite::Result<Event> {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        assignment_id: i64,
        status: &'a str,
        previous_status: &'a str,
        changed_at: &'a str,
    }
    let event_id = events::record(
        txn,
        "assignment_status",
        Some(user_id),
        &Payload {
            assignment_id,
            status,
            previous_status: previous,
            changed_at: at,
        },
        at,
    )?;
    Ok(Event::AssignmentStatus {
        event_id,
        user_id,
        assignment_id,
        status: status.into(),
        previous_status: previous.into(),
        changed_at: at.into(),
    })
}

pub(crate) fn assignment_by_id(txn: &Transaction<'_>, id: i64) -> rusqlite::Result<Assignment> {
    txn.query_row(
        &format!("{} WHERE a.id = ?1", Assignment::SELECT),
        [id],
        Assignment::from_row,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_come_from_the_number() {
        assert_eq!(country_of("+15550100001").as_deref(), Some("US"));
        assert_eq!(country_of("+447700900002").as_deref(), Some("GB"));
        assert_eq!(country_of("not a number"), None);
        assert_eq!(normalize_country("uk").as_deref(), Some("GB"));
        assert_eq!(normalize_country("US").as_deref(), Some("US"));
        assert_eq!(normalize_country("USA"), None);
    }
}
