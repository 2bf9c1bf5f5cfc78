//! API keys for server-to-server clients. Only a key's SHA-256 is stored: the key
//! itself is shown once, when it is made, by the API that generates it. A key acts
//! as its user until it is revoked or expires.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::model::User;
use crate::{time, Gateway, GatewayError, GatewayResult};

/// A key as its owner sees it in listings: never the key, only its first characters.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What the API hands over to store a new key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole key.
    pub key_hash: String,
    pub expires_at: Option<String>,
}

const COLUMNS: &str = "id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        prefix: r.get(3)?,
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

/// How often at most a key's `last_used_at` is written (a write costs an fdatasync).
const LAST_USED_GRANULARITY_SECS: i64 = 60;

impl Gateway {
    pub async fn create_api_key(&self, new: NewApiKey) -> GatewayResult<ApiKey> {
        let now = time::now_iso();
        Ok(self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        new.user_id,
                        new.name,
                        new.prefix,
                        new.key_hash,
                        now,
                        new.expires_at
                    ],
                )?;
                let id = txn.last_insert_rowid();
                Ok(txn.query_row(
                    &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                    [id],
                    from_row,
                )?)
            })
            .await?)
    }

    /// The user's keys, newest first, revoked ones included.
    pub async fn api_keys(&self, user_id: i64) -> GatewayResult<Vec<ApiKey>> {
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY id DESC"
                ))?;
                let rows = stmt
                    .query_map([user_id], from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Revokes one of the user's keys; `NotFound` if it is not theirs. Revoking twice
    /// keeps the first time.
    pub async fn revoke_api_key(&self, user_id: i64, id: i64) -> GatewayResult<ApiKey> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let changed = txn.execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2 AND user_id = ?3",
                    params![now, id, user_id],
                )?;
                if changed == 0 {
                    return Ok(Err(GatewayError::NotFound("API key")));
                }
                Ok(Ok(txn.query_row(
                    &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                    [id],
                    from_row,
                )?))
            })
            .await?
    }

    /// The user a key (given by its hash) acts for, if the key is live: not revoked,
    /// not expired. Notes when it was last used, at most once a minute.
    pub async fn user_by_api_key(&self, key_hash: String) -> GatewayResult<Option<User>> {
        let now = time::now();
        let now_iso = time::iso(now);
        let found = self
            .store
            .read(move |c| {
                let row = c
                    .query_row(
                        "SELECT k.id, k.user_id, k.last_used_at FROM api_keys k
                         WHERE k.key_hash = ?1 AND k.revoked_at IS NULL
                           AND (k.expires_at IS NULL OR k.expires_at > ?2)",
                        params![key_hash, now_iso],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, Option<String>>(2)?,
                            ))
                        },
                    )
                    .optional()?;
                let Some((key_id, user_id, last_used)) = row else {
                    return Ok(None);
                };
                let user = c
                    .query_row(
                        &format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS),
                        [user_id],
                        User::from_row,
                    )
                    .optional()?;
                Ok(user.map(|u| (key_id, last_used, u)))
            })
            .await?;
        let Some((key_id, last_used, user)) = found else {
            return Ok(None);
        };
        let stale = last_used
            .as_deref()
            .and_then(time::parse_iso)
            .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS);
        if stale {
            let store = self.store.clone();
            let at = time::iso(now);
            tokio::spawn(async move {
                let result = store
                    .write(move |txn| {
                        txn.execute(
                            "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2",
                            params![at, key_id],
                        )?;
                        Ok(())
                    })
                    .await;
                if let Err(e) = result {
                    tracing::warn!("cannot note the use of API key {key_id}: {e}");
                }
            });
        }
        Ok(Some(user))
    }
}
