//! Documents sent by hash instead of text. Two standards, one look-up by SHA-256:
//! - Apollo's automatic persisted queries: `extensions.persistedQuery.sha256Hash` alone runs a
//!   document sent before with its hash (or answers `PERSISTED_QUERY_NOT_FOUND`, and the client
//!   sends both once), so repeated requests are small and can be GETs a CDN caches.
//! - Trusted documents: with a manifest of hash → document (graphql-codegen's client preset
//!   writes one, `persisted-documents.json`), only those documents run, sent by hash (or by
//!   `documentId`) or in full; any other is refused unless the caller is an admin.
//!
//! The text found here goes through the pipeline like any other: the plan cache is keyed by it.
use crate::auth::{Role, Viewer};
use crate::cache::bounded::Bounded;
use crate::error::ApiError;
use async_graphql::{Request, ServerError, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The hash of a document's text, as the clients compute it.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

pub struct Documents {
    /// Registered by clients: hash → text, least recently used out first, bounded in bytes too.
    persisted: Option<Bounded<String, Arc<str>>>,
    /// The trusted documents, when the gateway runs only those.
    trusted: Option<HashMap<String, Arc<str>>>,
}

/// What a request turned out to carry.
pub enum Sent {
    /// Its text, as usual.
    Text,
    /// A hash this gateway knew.
    Known,
    /// A text with its hash: to be remembered once it proves valid.
    Register(String),
}

impl Documents {
    /// `entries` and `max_bytes` bound the registered documents (0 entries: no automatic
    /// persisted queries); `manifest` is the trusted-documents file.
    pub fn new(entries: usize, max_bytes: usize, manifest: Option<&Path>) -> anyhow::Result<Documents> {
        let trusted = match manifest {
            Some(path) => Some(load_manifest(path)?),
            None => None,
        };
        Ok(Documents {
            persisted: (entries > 0).then(|| Bounded::new(entries, max_bytes, |t: &Arc<str>| t.len())),
            trusted,
        })
    }

    /// Fills in `req.query` from a hash when it has none, and checks that `viewer` may run it.
    pub fn resolve(&self, req: &mut Request, viewer: &Viewer) -> Result<Sent, ServerError> {
        let hash = requested_hash(req)?;
        let admin = viewer.role == Role::Admin;
        let Some(hash) = hash else {
            if let Some(trusted) = &self.trusted {
                if !admin && !trusted.contains_key(&sha256_hex(&req.query)) {
                    return Err(forbidden());
                }
            }
            return Ok(Sent::Text);
        };
        if req.query.is_empty() {
            let known = self.trusted.as_ref().and_then(|t| t.get(&hash).cloned()).or_else(|| {
                // Registered documents run in trusted mode only for admins (who may run anything).
                let apq = self.persisted.as_ref().filter(|_| self.trusted.is_none() || admin)?;
                apq.get(&hash)
            });
            return match known {
                Some(text) => {
                    req.query = text.to_string();
                    Ok(Sent::Known)
                }
                None => Err(not_found()),
            };
        }
        if sha256_hex(&req.query) != hash {
            return Err(bad("provided sha does not match query"));
        }
        match &self.trusted {
            Some(t) if t.contains_key(&hash) => Ok(Sent::Known),
            Some(_) if !admin => Err(forbidden()),
            _ if self.persisted.is_some() => Ok(Sent::Register(hash)),
            _ => Ok(Sent::Text),
        }
    }

    /// Keeps a valid document sent with its hash.
    pub fn register(&self, hash: String, text: &str) {
        if let Some(apq) = &self.persisted {
            apq.put(hash, Arc::from(text));
        }
    }
}

/// The SHA-256 a request names: `extensions.persistedQuery` (version 1) or a `documentId`
/// (`sha256:<hex>`), which the HTTP layer moves there.
fn requested_hash(req: &Request) -> Result<Option<String>, ServerError> {
    let Some(pq) = req.extensions.get("persistedQuery") else { return Ok(None) };
    let Value::Object(pq) = pq else { return Err(bad("extensions.persistedQuery must be an object")) };
    if !matches!(pq.get("version"), Some(Value::Number(n)) if n.as_u64() == Some(1)) {
        return Err(bad("extensions.persistedQuery.version must be 1"));
    }
    match pq.get("sha256Hash") {
        Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(h.to_ascii_lowercase()))
        }
        _ => Err(bad("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")),
    }
}

/// An error about the request as a whole (no position in the document).
fn coded(code: &str, message: &str) -> ServerError {
    let mut e = ServerError::new(message, None);
    e.extensions.get_or_insert_with(Default::default).set("code", code);
    e
}

fn bad(message: &str) -> ServerError {
    coded(ApiError::bad("").code(), message)
}

/// Apollo Client recognises the message as well as the code, and then sends the text.
fn not_found() -> ServerError {
    coded("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
}

fn forbidden() -> ServerError {
    coded(
        ApiError::Forbidden(String::new()).code(),
        "this gateway runs trusted documents only: send one of them (by hash or in full)",
    )
}

/// A manifest is a JSON object of SHA-256 hex → document text; every entry is checked.
fn load_manifest(path: &Path) -> anyhow::Result<HashMap<String, Arc<str>>> {
    let what = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("QUANTGRAPH_TRUSTED_DOCUMENTS {what}: {e}"))?;
    let entries: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!("QUANTGRAPH_TRUSTED_DOCUMENTS {what}: not a JSON object of hash → document: {e}")
    })?;
    let mut out = HashMap::with_capacity(entries.len());
    for (hash, doc) in entries {
        let hash = hash.strip_prefix("sha256:").unwrap_or(&hash).to_ascii_lowercase();
        if sha256_hex(&doc) != hash {
            anyhow::bail!(
                "QUANTGRAPH_TRUSTED_DOCUMENTS {what}: `{hash}` is not the SHA-256 of its document \
                 (graphql-codegen: set `hashAlgorithm: 'sha256'` in the client preset's persistedDocuments)"
            );
        }
        out.insert(hash, Arc::from(doc));
    }
    Ok(out)
}
