//! The data layer, knowing nothing of GraphQL: the catalog of tables, the value model, list
//! queries (conditions, orderings, keysets, access), SQL for each dialect, and the reads that
//! run it. The GraphQL layer, the write service, the event bus and the seeder stand on it.
pub mod aggregate;
pub mod buckets;
pub mod calendar;
pub mod catalog;
pub mod db;
pub mod depends;
pub mod derived;
pub mod exec;
pub mod fetch;
pub mod market;
pub mod query;
pub mod read;
pub mod series;
pub mod sql;
pub mod stream;
pub mod value_chain;
pub mod values;
