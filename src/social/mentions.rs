//! Which `@names` in posts and comments are people: a page's bodies
//! resolved with one query, so a client links only names that exist.

use std::collections::HashMap;

use sqlx::SqlitePool;

use kith_core::text;

/// For each body, the existing users it names (as their usernames are
/// spelled), in the order named.
pub async fn resolve(pool: &SqlitePool, bodies: &[&str]) -> Result<Vec<Vec<String>>, sqlx::Error> {
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
    let sql = format!(
        "SELECT username FROM users WHERE lower(username) IN ({})",
        vec!["?"; all.len()].join(", ")
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for n in &all {
        q = q.bind(n);
    }
    let found: HashMap<String, String> = q
        .fetch_all(pool)
        .await?
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
