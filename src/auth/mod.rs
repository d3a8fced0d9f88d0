//! Who is asking: roles, access tokens (HS256 JWT with key rotation) and the guards.
use crate::error::{ApiError, ApiResult};
use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
}

/// The caller of one request.
#[derive(Clone, Debug)]
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
            (Role::Anonymous, _) | (_, None) => Err(ApiError::Unauthenticated("sign in to read this".into())),
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

    pub fn issue(&self, sub: &str, role: Role, ttl_secs: u64) -> ApiResult<String> {
        let exp = (chrono::Utc::now().timestamp() as u64 + ttl_secs) as usize;
        encode(
            &Header::default(),
            &Claims { sub: sub.into(), role, exp },
            &EncodingKey::from_secret(self.current.as_bytes()),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The viewer a bearer token stands for.
    pub fn verify(&self, token: &str) -> ApiResult<Viewer> {
        let validation = Validation::default();
        for secret in std::iter::once(&self.current).chain(self.previous.iter()) {
            if let Ok(data) = decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation) {
                let user = Uuid::parse_str(&data.claims.sub).ok();
                return Ok(Viewer { user, role: data.claims.role });
            }
        }
        Err(ApiError::Unauthenticated("invalid or expired token".into()))
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
}
