//! Authentication shared by every seed: argon2 password hashes, JWT access and refresh
//! tokens, and the extractors that put the caller's identity into a handler.
//!
//! The signing secret is generated at first start and kept in the data directory
//! (`jwt.secret`, mode 0600): never a constant in the code.

use std::path::Path;
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use gateway::model::{Role, User};
use gateway::time;

/// Lifetime of an access token (DispoSMS: 1 hour).
pub const ACCESS_TTL_SECS: i64 = 3600;
/// Lifetime of a refresh token (DispoSMS: 30 days).
pub const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub role: String,
    /// `access` or `refresh`: a refresh token is never accepted as an access token.
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The refresh-token family (one login's chain of rotations).
    pub fam: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

/// Issued tokens for one user.
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub refresh_jti: String,
    pub refresh_expires_at: String,
    pub family: String,
    pub expires_in: i64,
}

/// Keys and limits of the authentication core.
pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Each argon2 hash holds 19 MiB: a Pi must not run many at once.
    hashing: Semaphore,
}

impl AuthKeys {
    pub fn from_secret(secret: &[u8]) -> Arc<AuthKeys> {
        Arc::new(AuthKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            hashing: Semaphore::new(2),
        })
    }

    /// Reads `data_dir/jwt.secret`, creating it with 64 random bytes at first start.
    pub fn load_or_create(data_dir: &Path) -> std::io::Result<Arc<AuthKeys>> {
        let path = data_dir.join("jwt.secret");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = hex::decode(text.trim()).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is not a hex secret: {e}", path.display()),
                    )
                })?;
                if secret.len() < 32 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} holds fewer than 32 bytes", path.display()),
                    ));
                }
                Ok(Self::from_secret(&secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 64];
                rand::rng().fill_bytes(&mut secret);
                write_private(&path, &hex::encode(secret))?;
                Ok(Self::from_secret(&secret))
            }
            Err(e) => Err(e),
        }
    }

    /// A new access token and a refresh token of `family` (a new family at login).
    pub fn issue(&self, user: &User, family: Option<String>) -> TokenPair {
        let now = time::now();
        let family = family.unwrap_or_else(random_id);
        let access = Claims {
            sub: user.id.to_string(),
            role: user.role.as_str().into(),
            typ: "access".into(),
            iat: now.timestamp(),
            exp: now.timestamp() + ACCESS_TTL_SECS,
            jti: random_id(),
            fam: family.clone(),
        };
        let refresh_jti = random_id();
        let refresh = Claims {
            typ: "refresh".into(),
            exp: now.timestamp() + REFRESH_TTL_SECS,
            jti: refresh_jti.clone(),
            ..access.clone()
        };
        TokenPair {
            access_token: self.sign(&access),
            refresh_token: self.sign(&refresh),
            refresh_jti,
            refresh_expires_at: time::iso(now + Duration::seconds(REFRESH_TTL_SECS)),
            family,
            expires_in: ACCESS_TTL_SECS,
        }
    }

    /// Signs any claims with HS256 (tools and tests; [`issue`](Self::issue) for logins).
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail with the rust_crypto provider")
    }

    /// Verifies signature, expiry and the token's type (`access` or `refresh`).
    pub fn verify(&self, token: &str, typ: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        if data.claims.typ != typ {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    /// Hashes a password with Argon2id off the async threads, a bounded few at a time.
    pub async fn hash_password(&self, password: String) -> Result<String, String> {
        let _permit = self.hashing.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Checks a password against a stored hash; `false` for any malformed hash.
    pub async fn verify_password(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }
}

/// 128 random bits as hex: token ids and families.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A random password for the first admin when none is configured.
pub fn random_password() -> String {
    use base64::Engine;
    let mut b = [0u8; 15];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

/// The authenticated caller, put into handlers by the seed routers' extractors.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
    pub credential: Credential,
}

/// What the caller proved itself with.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An access token; its `fam` is the login it belongs to (logout revokes it).
    Token(Claims),
    /// An API key (server-to-server).
    ApiKey,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The access token's claims, if the caller used one.
    pub fn claims(&self) -> Option<&Claims> {
        match &self.credential {
            Credential::Token(c) => Some(c),
            Credential::ApiKey => None,
        }
    }
}

/// Turns verified claims into a caller, checking the account still exists and is
/// active (a banned user's unexpired token stops working at once) and that its login
/// was not logged out or revoked (a reused refresh token revokes the whole login).
pub async fn resolve_caller(gateway: &gateway::Gateway, claims: Claims) -> Result<Caller, String> {
    let id = claims.user_id().ok_or("The token names no user")?;
    let (user, revoked) = gateway
        .user_for_token(id, claims.fam.clone())
        .await
        .map_err(|e| format!("Cannot check the account: {e}"))?
        .ok_or("The token's user no longer exists")?;
    if revoked {
        return Err("This session has been logged out or revoked".into());
    }
    if !user.is_active {
        return Err("This account is disabled".into());
    }
    Ok(Caller {
        user_id: user.id,
        role: user.role,
        credential: Credential::Token(claims),
    })
}

/// API keys look like `sgk_` and 43 URL-safe base64 characters (256 random bits).
pub const API_KEY_PREFIX: &str = "sgk_";

/// A new API key; only its [`api_key_hash`] is stored.
pub fn new_api_key() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!(
        "{API_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// Lower-case hex SHA-256 of a key: what the store keeps and looks keys up by.
/// A key has 256 random bits, so a fast hash is enough (no password stretching).
pub fn api_key_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The caller an API key acts for, if the key is live and its user active.
pub async fn resolve_api_key(gateway: &gateway::Gateway, key: &str) -> Result<Caller, String> {
    let user = gateway
        .user_by_api_key(api_key_hash(key))
        .await
        .map_err(|e| format!("Cannot check the API key: {e}"))?
        .ok_or("The API key is invalid, expired or revoked")?;
    if !user.is_active {
        return Err("This account is disabled".into());
    }
    Ok(Caller {
        user_id: user.id,
        role: user.role,
        credential: Credential::ApiKey,
    })
}

/// Reads an API key from `X-API-Key`, or from `Authorization: Bearer sgk_...`.
pub fn api_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key") {
        return v.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    bearer(headers).filter(|t| t.starts_with(API_KEY_PREFIX))
}

/// Reads `Authorization: Bearer <token>`.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        User {
            id: 7,
            email: Some("a@b.c".into()),
            phone: None,
            password_hash: None,
            first_name: None,
            last_name: None,
            role,
            is_active: true,
            email_verified: false,
            phone_verified: false,
            created_at: time::now_iso(),
            last_login: None,
        }
    }

    #[test]
    fn tokens_sign_and_verify_and_keep_their_type() {
        let keys = AuthKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let pair = keys.issue(&user(Role::Admin), None);
        let access = keys
            .verify(&pair.access_token, "access")
            .expect("valid access");
        assert_eq!(access.user_id(), Some(7));
        assert_eq!(access.role, "admin");
        assert!(keys.verify(&pair.access_token, "refresh").is_err());
        let refresh = keys
            .verify(&pair.refresh_token, "refresh")
            .expect("valid refresh");
        assert_eq!(refresh.jti, pair.refresh_jti);
        assert_eq!(refresh.fam, pair.family);
        let other = AuthKeys::from_secret(b"another secret another secret!!!");
        assert!(other.verify(&pair.access_token, "access").is_err());
        assert!(keys.verify("not.a.token", "access").is_err());
    }

    #[test]
    fn unsigned_expired_and_foreign_tokens_are_refused() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let keys = AuthKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = time::now().timestamp();
        let claims = format!(
            r#"{{"sub":"7","role":"admin","typ":"access","iat":{now},"exp":{},"jti":"x","fam":"f"}}"#,
            now + 600
        );
        // alg "none", with and without a trailing dot and with a junk signature.
        let header = b64(r#"{"alg":"none","typ":"JWT"}"#);
        for token in [
            format!("{header}.{}.", b64(&claims)),
            format!("{header}.{}", b64(&claims)),
            format!("{header}.{}.c2ln", b64(&claims)),
        ] {
            assert!(keys.verify(&token, "access").is_err(), "{token}");
        }
        // HS512 with the right secret is still not our algorithm.
        let other_alg = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::from_str::<Claims>(&claims).expect("claims"),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .expect("sign");
        assert!(keys.verify(&other_alg, "access").is_err());
        // Expired is told apart.
        let mut old = keys.issue(&user(Role::User), None);
        let expired = Claims {
            iat: now - 7200,
            exp: now - 3600,
            ..keys.verify(&old.access_token, "access").expect("fresh")
        };
        old.access_token = keys.sign(&expired);
        assert!(matches!(
            keys.verify(&old.access_token, "access"),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn api_keys_are_random_and_hashed() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == API_KEY_PREFIX.len() + 43);
        assert_eq!(api_key_hash(&a).len(), 64);
        assert_eq!(api_key_hash(&a), api_key_hash(&a));
        assert_ne!(api_key_hash(&a), api_key_hash(&b));
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let keys = AuthKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let hash = keys.hash_password("hunter42!".into()).await.expect("hash");
        assert!(keys.verify_password("hunter42!".into(), hash.clone()).await);
        assert!(!keys.verify_password("hunter43!".into(), hash).await);
        assert!(!keys.verify_password("x".into(), "garbage".into()).await);
    }

    #[test]
    fn secret_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("simgate-auth-{}", random_id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a = AuthKeys::load_or_create(&dir).expect("create");
        let b = AuthKeys::load_or_create(&dir).expect("reload");
        let pair = a.issue(&user(Role::User), None);
        assert!(b.verify(&pair.access_token, "access").is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
