//! Black-box tests: the real app on a random port, over HTTP, against SQLite and PostgreSQL.
mod abuse;
mod browser;
mod buckets;
mod common;
mod differential;
mod documents;
mod foundation;
mod http;
mod live;
mod memories;
mod read;
mod semantics;
mod snapshot;
mod telemetry;
mod writes;
