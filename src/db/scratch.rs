//! Scratch databases for tests that check what triggers keep: a fresh
//! file at the latest schema, users in it, and a seeded draw of random
//! writes (the same sequence on every run, so a failure repeats).

use std::path::PathBuf;

use rusqlite::Connection;

use super::Reader;

/// A fresh database file at the latest schema, its writer's connection,
/// and the file's path (for a [`Reader`]).
pub fn fresh() -> (tempfile::TempDir, PathBuf, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kith.db");
    let mut conn = super::open_writer_connection(&path).expect("open");
    super::schema::apply(&mut conn).expect("schema");
    (dir, path, conn)
}

/// A fresh database holding `rows`, its writer's connection and a reader
/// on it.
pub fn seeded(rows: &str) -> (tempfile::TempDir, Connection, Reader) {
    let (dir, path, conn) = fresh();
    conn.execute_batch(rows).expect("seed");
    let reader = Reader::open(&path).expect("reader");
    (dir, conn, reader)
}

/// User `id`, named `u<id>`.
pub fn add_user(conn: &Connection, id: i64) {
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, created_at)
         VALUES (?1, 'u' || ?1, 'U', 'x', 0)",
        [id],
    )
    .expect("user");
}

/// A seeded xorshift draw.
pub struct Draw(u64);

impl Draw {
    pub fn new(seed: u64) -> Draw {
        Draw(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        i64::try_from(self.0 % n.unsigned_abs()).expect("small")
    }

    /// An index of `weights`, each drawn as often as its weight.
    pub fn pick(&mut self, weights: &[i64]) -> usize {
        let mut draw = self.below(weights.iter().sum());
        weights
            .iter()
            .position(|&w| {
                draw -= w;
                draw < 0
            })
            .expect("a drawn index")
    }
}
