//! Who is asking: roles, access tokens (HS256 JWT with key rotation) and the guards.
use crate::error::{ApiError, ApiResult};
use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Anonymous,
    User,
    Analyst,
    Service,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "analyst" => Some(Role::Analyst),
            "service" => Some(Role::Service),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: usize,
    /// Issued at sign-in for the account `sub`: valid only while that account exists. Tokens
    /// minted by an operator (`quantgraph token`, `issueToken`) name no account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acct: bool,
}

/// The caller of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub user: Option<Uuid>,
    pub role: Role,
}

impl Viewer {
    pub const ANONYMOUS: Viewer = Viewer { user: None, role: Role::Anonymous };

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_user(&self) -> ApiResult<Uuid> {
        match (self.role, self.user) {
            (Role::Anonymous, _) => Err(ApiError::Unauthenticated("sign in to read this".into())),
            // Signed in with an operator token (`quantgraph token`): no account owns rows.
            (_, None) => Err(ApiError::Forbidden("this token names no account; sign in as a user to read this".into())),
            (_, Some(u)) => Ok(u),
        }
    }

    pub fn require_research(&self) -> ApiResult<()> {
        match self.role {
            Role::Anonymous => Err(ApiError::Unauthenticated("sign in as an analyst to read research data".into())),
            Role::Analyst | Role::Admin => Ok(()),
            _ => Err(ApiError::Forbidden("research data needs the analyst role".into())),
        }
    }

    pub fn require_admin(&self) -> ApiResult<()> {
        match self.role {
            Role::Anonymous => Err(ApiError::Unauthenticated("sign in as an admin".into())),
            Role::Admin => Ok(()),
            _ => Err(ApiError::Forbidden("this needs the admin role".into())),
        }
    }
}

/// Signs and checks access tokens; older secrets stay valid for verification during rotation.
#[derive(Clone)]
pub struct Tokens {
    current: String,
    previous: Vec<String>,
}

impl Tokens {
    pub fn new(secret: &str) -> Self {
        // `JWT_SECRET=new,old` rotates: sign with the first, accept all.
        let mut parts = secret.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        let current = parts.next().unwrap_or_default();
        Tokens { current, previous: parts.collect() }
    }

    /// A token for `sub` (any subject an operator names).
    pub fn issue(&self, sub: &str, role: Role, ttl_secs: u64) -> ApiResult<String> {
        self.sign(Claims { sub: sub.into(), role, exp: expiry(ttl_secs), acct: false })
    }

    /// A sign-in token of the account `id`: refused once the account is deleted.
    pub fn issue_for_account(&self, id: Uuid, role: Role, ttl_secs: u64) -> ApiResult<String> {
        self.sign(Claims { sub: id.to_string(), role, exp: expiry(ttl_secs), acct: true })
    }

    fn sign(&self, claims: Claims) -> ApiResult<String> {
        encode(&Header::default(), &claims, &EncodingKey::from_secret(self.current.as_bytes()))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The viewer a bearer token stands for.
    pub fn verify(&self, token: &str) -> ApiResult<Viewer> {
        self.verify_account(token).map(|(viewer, _)| viewer)
    }

    /// The viewer a bearer token stands for, and the account it was issued for (if any).
    pub fn verify_account(&self, token: &str) -> ApiResult<(Viewer, Option<Uuid>)> {
        let validation = Validation::default();
        for secret in std::iter::once(&self.current).chain(self.previous.iter()) {
            if let Ok(data) = decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation) {
                let user = Uuid::parse_str(&data.claims.sub).ok();
                let account = user.filter(|_| data.claims.acct);
                return Ok((Viewer { user, role: data.claims.role }, account));
            }
        }
        Err(ApiError::Unauthenticated("invalid or expired token".into()))
    }
}

fn expiry(ttl_secs: u64) -> usize {
    (chrono::Utc::now().timestamp() as u64 + ttl_secs) as usize
}

/// Password hashing (argon2: tens of milliseconds of one core each) runs on the blocking pool,
/// at most `parallel` at a time; up to `queue` more callers wait, and past that a caller is told
/// to retry: a burst of logins cannot take every core from the rest of the API.
pub struct PasswordWork {
    permits: tokio::sync::Semaphore,
    admitted: AtomicUsize,
    bound: usize,
}

impl PasswordWork {
    pub fn new(parallel: usize, queue: usize) -> Self {
        let parallel = parallel.max(1);
        PasswordWork {
            permits: tokio::sync::Semaphore::new(parallel),
            admitted: AtomicUsize::new(0),
            bound: parallel + queue,
        }
    }

    /// Runs `f` (a hash or a verification) in turn, or refuses with `RATE_LIMITED`.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&self.admitted);
        if before >= self.bound {
            return Err(ApiError::RateLimited("too many sign-ins at once: retry in a moment".into()));
        }
        let _permit = self.permits.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// Accounts recently seen to exist, so a token's account is looked up at most once per `ttl`:
/// a deleted account's tokens stop working at once on the replica that deleted it and within
/// `ttl` on the others.
pub struct LiveAccounts {
    seen: std::sync::Mutex<lru::LruCache<Uuid, std::time::Instant>>,
    ttl: std::time::Duration,
}

impl LiveAccounts {
    pub fn new(capacity: usize, ttl: std::time::Duration) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity.max(1)).expect("non-zero");
        LiveAccounts { seen: std::sync::Mutex::new(lru::LruCache::new(capacity)), ttl }
    }

    pub fn fresh(&self, id: Uuid) -> bool {
        let mut seen = self.seen.lock().expect("live accounts");
        seen.get(&id).is_some_and(|at| at.elapsed() < self.ttl)
    }

    pub fn mark(&self, id: Uuid) {
        self.seen.lock().expect("live accounts").put(id, std::time::Instant::now());
    }

    pub fn forget(&self, id: Uuid) {
        self.seen.lock().expect("live accounts").pop(&id);
    }
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> ApiResult<String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_secrets_still_verify_and_others_do_not() {
        let old = Tokens::new("old-secret");
        let token = old.issue("u1", Role::Service, 60).unwrap();
        let rotated = Tokens::new("new-secret, old-secret");
        assert_eq!(rotated.verify(&token).unwrap().role, Role::Service);
        assert!(Tokens::new("new-secret").verify(&token).is_err());
        let fresh = rotated.issue("u2", Role::User, 60).unwrap();
        assert!(Tokens::new("new-secret").verify(&fresh).is_ok());
    }

    /// 100 hashes at once with 2 running and 32 queued: exactly 34 are admitted, the other 66
    /// refused, and never more than 2 run together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn password_work_runs_a_few_at_once_queues_a_bound_and_refuses_the_rest() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        let work = Arc::new(PasswordWork::new(2, 32));
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (work, running, peak) = (work.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    work.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        let done = outcomes.iter().filter(|o| o.is_ok()).count();
        let refused = outcomes.iter().filter(|o| matches!(o, Err(ApiError::RateLimited(_)))).count();
        // All 100 arrive within the first hashes' 200 ms, so the bound is met exactly.
        assert_eq!((done, refused), (34, 66));
        assert_eq!(peak.load(Ordering::SeqCst), 2, "at most two hashes at once");
        assert!(work.run(|| ()).await.is_ok(), "the burst over, work is admitted again");
    }
}
