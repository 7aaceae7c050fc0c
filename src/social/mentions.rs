//! Which `@names` in posts and comments are people: a page's bodies
//! resolved with one query, so a client links only names that exist.

use std::collections::HashMap;

use crate::db::reader::{ReadError, Reader};

use kith_core::text;

/// For each body, the existing users it names (as their usernames are
/// spelled), in the order named.
pub fn resolve(db: &Reader, bodies: &[&str]) -> Result<Vec<Vec<String>>, ReadError> {
    let named: Vec<Vec<String>> = bodies.iter().map(|b| text::mentions(b)).collect();
    let mut all: Vec<String> = named
        .iter()
        .flatten()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    all.sort();
    all.dedup();
    if all.is_empty() {
        return Ok(vec![Vec::new(); bodies.len()]);
    }
    let list = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
    let found: HashMap<String, String> = db
        .all(
            "SELECT username FROM users WHERE lower(username) IN (SELECT value FROM json_each(?))",
            [list],
            |r| r.get::<String>(0),
        )?
        .into_iter()
        .map(|u| (u.to_ascii_lowercase(), u))
        .collect();
    Ok(named
        .into_iter()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| found.get(&n.to_ascii_lowercase()).cloned())
                .collect()
        })
        .collect())
}
