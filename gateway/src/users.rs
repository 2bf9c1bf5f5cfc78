//! Users and refresh-token families. Password hashing is the API's business (argon2
//! lives there); this module stores the hash it is given.

use rusqlite::{params, OptionalExtension};

use crate::model::{Role, User};
use crate::{time, Gateway, GatewayError, GatewayResult};

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub admin: bool,
    pub email_verified: bool,
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRefusal {
    Unknown,
    Expired,
    Revoked,
    /// An already rotated token came back: its whole family is now revoked.
    Reused,
}

struct RefreshRow {
    user_id: i64,
    family: String,
    expires_at: String,
    used: bool,
    revoked: bool,
}

impl Gateway {
    /// Creates a user; `Conflict` when the email or phone is taken.
    pub async fn create_user(&self, new: NewUser) -> GatewayResult<User> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let taken: Option<i64> = txn
                    .query_row(
                        "SELECT id FROM users WHERE (email IS NOT NULL AND email = ?1) OR (phone IS NOT NULL AND phone = ?2)",
                        params![new.email, new.phone],
                        |r| r.get(0),
                    )
                    .optional()?;
                if taken.is_some() {
                    return Ok(None);
                }
                txn.execute(
                    "INSERT INTO users (email, phone, password_hash, first_name, last_name, role, email_verified, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        new.email,
                        new.phone,
                        new.password_hash,
                        new.first_name,
                        new.last_name,
                        if new.admin { Role::Admin } else { Role::User }.as_str(),
                        new.email_verified,
                        now
                    ],
                )?;
                let id = txn.last_insert_rowid();
                let user = txn.query_row(
                    &format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS),
                    [id],
                    User::from_row,
                )?;
                Ok(Some(user))
            })
            .await?
            .ok_or_else(|| GatewayError::Conflict("a user with this email or phone already exists".into()))
    }

    pub async fn user_by_email(&self, email: &str) -> GatewayResult<Option<User>> {
        let email = email.to_string();
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {} FROM users WHERE email = ?1", User::COLUMNS),
                    [email],
                    User::from_row,
                )
                .optional()?)
            })
            .await?)
    }

    pub async fn user_by_id(&self, id: i64) -> GatewayResult<Option<User>> {
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS),
                    [id],
                    User::from_row,
                )
                .optional()?)
            })
            .await?)
    }

    /// The user behind an access token, and whether the token's login (its refresh
    /// family) has been revoked since: one read for both, on every authenticated request.
    pub async fn user_for_token(
        &self,
        id: i64,
        family: String,
    ) -> GatewayResult<Option<(User, bool)>> {
        Ok(self
            .store
            .read(move |c| {
                // Runs for every authenticated request: cached statements.
                let user = c
                    .prepare_cached(&format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS))?
                    .query_row([id], User::from_row)
                    .optional()?;
                let Some(user) = user else {
                    return Ok(None);
                };
                let revoked: bool = c
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family = ?1 AND revoked_at IS NOT NULL)",
                    )?
                    .query_row([family], |r| r.get(0))?;
                Ok(Some((user, revoked)))
            })
            .await?)
    }

    /// Records a successful login; returns the user with `last_login` set.
    pub async fn record_login(&self, id: i64) -> GatewayResult<User> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                txn.execute(
                    "UPDATE users SET last_login = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
                Ok(txn
                    .query_row(
                        &format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS),
                        [id],
                        User::from_row,
                    )
                    .optional()?)
            })
            .await?
            .ok_or(GatewayError::NotFound("user"))
    }

    /// Makes sure the admin account exists. With a hash, (re)sets its password, so the
    /// operator's `SIMGATE_ADMIN_PASSWORD` always wins; without one, an existing account
    /// keeps its password. Returns the account and whether it was created now.
    pub async fn ensure_admin(
        &self,
        email: &str,
        password_hash: Option<String>,
    ) -> GatewayResult<(User, bool)> {
        if let Some(user) = self.user_by_email(email).await? {
            if let Some(hash) = password_hash {
                let id = user.id;
                self.store
                    .write(move |txn| {
                        txn.execute(
                            "UPDATE users SET password_hash = ?1, role = 'admin', is_active = 1 WHERE id = ?2",
                            params![hash, id],
                        )?;
                        Ok(())
                    })
                    .await?;
            }
            return Ok((user, false));
        }
        let Some(hash) = password_hash else {
            return Err(GatewayError::Invalid(
                "the admin account does not exist yet and no password was given".into(),
            ));
        };
        let user = self
            .create_user(NewUser {
                email: Some(email.to_string()),
                password_hash: Some(hash),
                first_name: Some("Admin".into()),
                admin: true,
                email_verified: true,
                ..NewUser::default()
            })
            .await?;
        Ok((user, true))
    }

    pub async fn store_refresh_token(
        &self,
        jti: String,
        user_id: i64,
        family: String,
        expires_at: String,
    ) -> GatewayResult<()> {
        self.store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO refresh_tokens (jti, user_id, family, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![jti, user_id, family, expires_at],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Spends a refresh token (each is good once). Returns its user and family, or why
    /// it was refused; a reused token revokes its whole family, since it was stolen.
    pub async fn spend_refresh_token(
        &self,
        jti: String,
    ) -> GatewayResult<Result<(i64, String), RefreshRefusal>> {
        let now = time::now_iso();
        Ok(self
            .store
            .write(move |txn| {
                let row = txn
                    .query_row(
                        "SELECT user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE jti = ?1",
                        [&jti],
                        |r| {
                            Ok(RefreshRow {
                                user_id: r.get(0)?,
                                family: r.get(1)?,
                                expires_at: r.get(2)?,
                                used: r.get::<_, Option<String>>(3)?.is_some(),
                                revoked: r.get::<_, Option<String>>(4)?.is_some(),
                            })
                        },
                    )
                    .optional()?;
                let Some(RefreshRow {
                    user_id,
                    family,
                    expires_at,
                    used,
                    revoked,
                }) = row
                else {
                    return Ok(Err(RefreshRefusal::Unknown));
                };
                if revoked {
                    return Ok(Err(RefreshRefusal::Revoked));
                }
                if used {
                    txn.execute(
                        "UPDATE refresh_tokens SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
                        params![now, family],
                    )?;
                    return Ok(Err(RefreshRefusal::Reused));
                }
                if expires_at <= now {
                    return Ok(Err(RefreshRefusal::Expired));
                }
                txn.execute(
                    "UPDATE refresh_tokens SET used_at = ?1 WHERE jti = ?2",
                    params![now, jti],
                )?;
                Ok(Ok((user_id, family)))
            })
            .await?)
    }

    /// Revokes every refresh token of a family (logout).
    pub async fn revoke_refresh_family(&self, family: String) -> GatewayResult<()> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                txn.execute(
                    "UPDATE refresh_tokens SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
                    params![now, family],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Counts shown on a user's profile.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UserStats {
    pub total_assignments: i64,
    pub active_assignments: i64,
    pub total_messages: i64,
    pub unread_messages: i64,
}

impl Gateway {
    pub async fn user_stats(&self, user_id: i64) -> GatewayResult<UserStats> {
        let now = time::now_iso();
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT
                        (SELECT COUNT(*) FROM assignments WHERE user_id = ?1),
                        (SELECT COUNT(*) FROM assignments WHERE user_id = ?1 AND status = 'active' AND expires_at > ?2),
                        (SELECT COUNT(*) FROM messages WHERE user_id = ?1),
                        (SELECT COUNT(*) FROM messages WHERE user_id = ?1 AND is_read = 0)",
                    params![user_id, now],
                    |r| {
                        Ok(UserStats {
                            total_assignments: r.get(0)?,
                            active_assignments: r.get(1)?,
                            total_messages: r.get(2)?,
                            unread_messages: r.get(3)?,
                        })
                    },
                )?)
            })
            .await?)
    }
}
