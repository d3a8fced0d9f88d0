//! Black-box tests: the real app on a random port, over HTTP, against SQLite and PostgreSQL.
mod buckets;
mod common;
mod foundation;
mod live;
mod memories;
mod read;
mod snapshot;
mod writes;
