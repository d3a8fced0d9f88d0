//! Writes: validation against the documented constraints, then transactional SQL.
pub mod accounts;
pub mod rules;
pub mod runs;
pub mod tables;
pub mod write;
