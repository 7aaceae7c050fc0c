"""What a post costs to write with the feed table, against without it.

The feed table (schema.sql, step 17) writes a row per friend on every
post. This measures what that costs where it matters for kith: database
pages written per post (each one a WAL frame, which LiteFS ships to every
other node) and the time of a post's transaction with synchronous=FULL.

kith's own schema.sql, applied to a fresh file in WAL mode, through
Python's sqlite3 (the system SQLite: page counts are the file format's,
the same for libSQL's engine). Each friend already has a feed of 400
rows, so that their ranges lie on pages of their own as in a real
database. Then what deleting an account costs, its feed rows included.
Usage: python3 bench/feed/write_cost.py [posts]
"""

import os
import sqlite3
import sys
import tempfile
import time

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "schema.sql")
DROP_FEED = """
DROP TRIGGER feed_items_post_ins; DROP TRIGGER feed_items_post_del;
DROP TRIGGER feed_items_friend_ins; DROP TRIGGER feed_items_friend_del;
DROP TRIGGER feed_items_user_del; DROP TABLE feed_items;
"""
FEED_ROWS = 400


def open_db(friends, with_feed):
    """A fresh database file with kith's schema (the feed table dropped
    unless `with_feed`), and user 1 with `friends` friends, in a
    transaction left open."""
    d = tempfile.mkdtemp()
    path = os.path.join(d, "k.db")
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    c.execute("PRAGMA foreign_keys=ON")
    c.execute("PRAGMA wal_autocheckpoint=0")
    c.executescript(open(SCHEMA).read())
    if not with_feed:
        c.executescript(DROP_FEED)
    c.execute("BEGIN")
    for u in range(1, friends + 2):
        c.execute(
            "INSERT INTO users (id, username, display_name, password_hash, created_at)"
            " VALUES (?1, 'u' || ?1, 'U', 'x', 0)",
            (u,),
        )
    for f in range(2, friends + 2):
        c.execute("INSERT INTO friendships VALUES (1, ?, 0), (?, 1, 0)", (f, f))
    return c, path


def run(friends, with_feed, posts):
    """Pages written and milliseconds per post by user 1."""
    c, path = open_db(friends, with_feed)
    if with_feed:
        for f in range(2, friends + 2):
            c.executemany(
                "INSERT INTO feed_items VALUES (?, ?, 0)",
                [(f, 10_000_000 + f * FEED_ROWS + i) for i in range(FEED_ROWS)],
            )
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = c.execute("PRAGMA page_size").fetchone()[0]
    frame = page + 24
    wal = path + "-wal"
    t0 = time.perf_counter()
    for _ in range(posts):
        c.execute(
            "INSERT INTO posts (author_id, body, visibility, created_at)"
            " VALUES (1, 'a post of some length, as people write them', 'friends', 0)"
        )
    dt = time.perf_counter() - t0
    frames = (os.path.getsize(wal) - 32) / frame
    c.close()
    return frames / posts, dt / posts * 1000


def delete_account(friends, posts, with_feed):
    """Milliseconds to delete an account with `friends` friends and
    `posts` posts (its feed rows going with it), in one transaction."""
    c, _ = open_db(friends, with_feed)
    c.executemany(
        "INSERT INTO posts (author_id, body, visibility, created_at)"
        " VALUES (1, 'a post', 'friends', 0)",
        [()] * posts,
    )
    c.execute("COMMIT")
    t0 = time.perf_counter()
    c.execute("DELETE FROM users WHERE id = 1")
    dt = time.perf_counter() - t0
    c.close()
    return dt * 1000


def main():
    posts = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print("| friends | pages written per post, without / with the feed table "
          "| ms per post (synchronous=FULL), without / with |")
    print("|---|---|---|")
    for friends in (10, 100, 1000):
        p0, t0 = run(friends, False, posts)
        p1, t1 = run(friends, True, posts)
        print(f"| {friends} | {p0:.1f} / {p1:.1f} | {t0:.2f} / {t1:.2f} |")
    print()
    print("| friends, posts | ms to delete the account, without / with the feed table |")
    print("|---|---|")
    for friends, n in ((100, 1000), (500, 2000)):
        d0 = delete_account(friends, n, False)
        d1 = delete_account(friends, n, True)
        print(f"| {friends}, {n} | {d0:.0f} / {d1:.0f} |")


if __name__ == "__main__":
    main()
