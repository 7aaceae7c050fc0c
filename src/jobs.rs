//! The durable job queue (`jobs`) and the workers that run it.
//!
//! Replaces a separate job broker: a job is a row; a claim is one
//! `UPDATE … RETURNING` through the writer; a running job holds a lease it
//! renews (heartbeat), and a job whose lease ran out is claimable again, so
//! a worker or node that dies loses nothing. Failed attempts are retried
//! with exponential backoff and jitter; after `max_attempts` a job is dead
//! and stays visible with its error. The rules are [`state`], pure
//! functions; [`crate::store::jobs`] holds the SQL; [`worker`] is the loop.

pub mod cli;
pub mod job;
pub mod routes;
pub mod worker;
