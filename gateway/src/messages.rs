//! Reading the message store: a user's messages with filters, one message, read marks.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};

use crate::model::MessageView;
use crate::{time, Gateway, GatewayError, GatewayResult};

/// Filters of a message listing. `user_id: None` lists every message (operator inbox).
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub user_id: Option<i64>,
    pub number: Option<String>,
    pub assignment_id: Option<i64>,
    pub kind: Option<String>,
    pub is_read: Option<bool>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub page: u32,
    pub limit: u32,
    pub oldest_first: bool,
}

#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub total: i64,
    /// Unread messages under the same filters, ignoring `is_read`.
    pub unread_count: i64,
}

impl Gateway {
    pub async fn messages(&self, q: MessageQuery) -> GatewayResult<MessagePage> {
        Ok(self
            .store
            .read(move |c| {
                let mut clauses: Vec<&str> = Vec::new();
                let mut args: Vec<Value> = Vec::new();
                let mut push = |clause: &'static str, v: Value| {
                    clauses.push(clause);
                    args.push(v);
                };
                if let Some(u) = q.user_id {
                    push("m.user_id = ?", Value::Integer(u));
                }
                if let Some(n) = &q.number {
                    push("m.to_number = ?", Value::Text(n.clone()));
                }
                if let Some(a) = q.assignment_id {
                    push("m.assignment_id = ?", Value::Integer(a));
                }
                if let Some(k) = &q.kind {
                    push("m.type = ?", Value::Text(k.clone()));
                }
                if let Some(f) = &q.from_date {
                    push("m.received_at >= ?", Value::Text(f.clone()));
                }
                if let Some(t) = &q.to_date {
                    push("m.received_at <= ?", Value::Text(t.clone()));
                }
                let base_where = if clauses.is_empty() {
                    "1 = 1".to_string()
                } else {
                    clauses.join(" AND ")
                };
                // Cached statements: a client polling its inbox sends the same shapes of
                // query over and over, and parsing SQL was a tenth of the request. One
                // pass counts both the page's total and the unread ones.
                let (mut total, unread_count): (i64, i64) = c
                    .prepare_cached(&format!(
                        "SELECT COUNT(*), COALESCE(SUM(m.is_read = 0), 0) FROM messages m WHERE {base_where}"
                    ))?
                    .query_row(params_from_iter(args.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut where_all = base_where;
                if let Some(read) = q.is_read {
                    where_all.push_str(" AND m.is_read = ?");
                    args.push(Value::Integer(i64::from(read)));
                    total = if read { total - unread_count } else { unread_count };
                }
                let order = if q.oldest_first { "ASC" } else { "DESC" };
                args.push(Value::Integer(i64::from(q.limit)));
                args.push(Value::Integer(
                    i64::from(q.page.saturating_sub(1)) * i64::from(q.limit),
                ));
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {} FROM messages m WHERE {where_all} ORDER BY m.received_at {order}, m.id {order} LIMIT ? OFFSET ?",
                    MessageView::COLUMNS
                ))?;
                let messages = stmt
                    .query_map(params_from_iter(args.iter()), MessageView::from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(MessagePage {
                    messages,
                    total,
                    unread_count,
                })
            })
            .await?)
    }

    /// One message, if it belongs to `user_id` (or to anyone, for `None`).
    pub async fn message(&self, id: i64, user_id: Option<i64>) -> GatewayResult<MessageView> {
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {} FROM messages m WHERE m.id = ?1 AND (?2 IS NULL OR m.user_id = ?2)",
                        MessageView::COLUMNS
                    ),
                    params![id, user_id],
                    MessageView::from_row,
                )
                .optional()?)
            })
            .await?
            .ok_or(GatewayError::NotFound("message"))
    }

    /// Marks one message read; returns when it was marked.
    pub async fn mark_read(&self, id: i64, user_id: Option<i64>) -> GatewayResult<String> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let read_at: Option<String> = txn
                    .query_row(
                        "UPDATE messages SET is_read = 1, read_at = COALESCE(read_at, ?1)
                         WHERE id = ?2 AND (?3 IS NULL OR user_id = ?3) RETURNING read_at",
                        params![now, id, user_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                Ok(read_at)
            })
            .await?
            .ok_or(GatewayError::NotFound("message"))
    }
    /// Marks every unread message of `user_id` read, or only those of one of its
    /// assignments. Returns how many were marked and when. An assignment that is not
    /// the user's is `NotFound`, as if it did not exist.
    pub async fn mark_all_read(
        &self,
        user_id: i64,
        assignment_id: Option<i64>,
    ) -> GatewayResult<(usize, String)> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                if let Some(a) = assignment_id {
                    let owned: Option<i64> = txn
                        .query_row(
                            "SELECT id FROM assignments WHERE id = ?1 AND user_id = ?2",
                            params![a, user_id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if owned.is_none() {
                        return Ok(Err(GatewayError::NotFound("assignment")));
                    }
                }
                let marked = txn.execute(
                    "UPDATE messages SET is_read = 1, read_at = ?1
                     WHERE user_id = ?2 AND is_read = 0 AND (?3 IS NULL OR assignment_id = ?3)",
                    params![now, user_id, assignment_id],
                )?;
                Ok(Ok((marked, now)))
            })
            .await?
    }
}
