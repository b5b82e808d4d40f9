"""The cache database: SQLite (stdlib) in WAL mode, shared by every imgopt process on the machine.

Tables::

    layers(diff_id, schema, format, header, chunks, nbytes, created, used)   -- one row per summary
    chunks(diff_id, schema, seq, data)                                       -- its packed entry table
    blobs(digest, diff_id, size, compression, push_gzip_bytes, used)         -- compressed blob -> diffID
    results(key, data, nbytes, created, used)                                -- finished documents (zstd JSON)

A summary and its chunks are written in one ``BEGIN IMMEDIATE`` transaction,
so a reader sees all of it or nothing, and a process killed mid-write leaves
nothing behind (the WAL rolls it back).  Each process opens its own
connection (a connection is never used across ``fork``).  After a write the
total size is checked; above the bound, least-recently-used summaries and
results go until it is 90 % of the bound.  ``used`` is refreshed at most once
a minute per entry, so reads rarely write.

Every failure of the database is a warning, once, and the cache turns itself
off for the rest of the process: it is an optimisation, never a reason to fail.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from imgopt.cache.location import DB_NAME, max_bytes as default_max_bytes

SCHEMA_VERSION = "1"  # of the database layout (not of what summaries hold)
BUSY_TIMEOUT_MS = 120_000
TOUCH_EVERY = 60.0  # seconds between refreshes of an entry's last use
RECOUNT_EVERY = 256  # writes between exact counts of the stored bytes (other processes write too)

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layers(
    diff_id TEXT NOT NULL, schema INTEGER NOT NULL, format TEXT NOT NULL, header TEXT NOT NULL,
    chunks INTEGER NOT NULL, nbytes INTEGER NOT NULL, created REAL NOT NULL, used REAL NOT NULL,
    PRIMARY KEY(diff_id, schema));
CREATE TABLE IF NOT EXISTS chunks(
    diff_id TEXT NOT NULL, schema INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY(diff_id, schema, seq));
CREATE TABLE IF NOT EXISTS blobs(
    digest TEXT PRIMARY KEY, diff_id TEXT NOT NULL, size INTEGER NOT NULL, compression TEXT NOT NULL,
    push_gzip_bytes INTEGER, used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results(
    key TEXT PRIMARY KEY, data BLOB NOT NULL, nbytes INTEGER NOT NULL, created REAL NOT NULL, used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS layers_used ON layers(used);
CREATE INDEX IF NOT EXISTS results_used ON results(used);
"""


@dataclass
class Totals:
    layers: int
    layer_bytes: int  # packed entry tables
    results: int
    result_bytes: int
    blobs: int
    file_bytes: int  # the database file and its WAL on disk
    oldest_use: float | None
    newest_use: float | None


class LayerCache:
    """One cache directory.  Methods return None / do nothing once the cache has turned itself off."""

    def __init__(self, directory: str, *, max_bytes: int | None = None,
                 warn: Callable[[str], None] | None = None):
        self.directory = os.path.abspath(directory)
        self.path = os.path.join(self.directory, DB_NAME)
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._warn = warn or (lambda m: print(m, file=sys.stderr))
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._lock = threading.Lock()
        self.disabled = False
        self.hits = self.misses = self.writes = 0
        self._stored: int | None = None  # bytes stored, as last counted plus this process's writes since
        self._uncounted = 0  # writes since it was counted

    def __getstate__(self) -> dict[str, Any]:  # sent to worker processes: they open their own connection
        return {"directory": self.directory, "max_bytes": self.max_bytes}

    def __setstate__(self, st: dict[str, Any]) -> None:
        self.__init__(st["directory"], max_bytes=st["max_bytes"])  # type: ignore[misc]

    # ------------------------------------------------------------ plumbing

    def _db(self) -> sqlite3.Connection | None:
        if self.disabled:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            os.makedirs(self.directory, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes effect on a new database
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_DDL)
            have = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if have is None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
            elif have[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by another imgopt (database schema {have[0]}); "
                                            f"remove {self.path} or use --cache DIR")
        except (sqlite3.Error, OSError) as e:
            self._off(e)
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _off(self, e: BaseException) -> None:
        if not self.disabled:
            self.disabled = True
            self._warn(f"imgopt: warning: {self.path}: {e}; continuing without the cache")

    def _run(self, fn: Callable[[sqlite3.Connection], Any], default: Any = None) -> Any:
        with self._lock:
            conn = self._db()
            if conn is None:
                return default
            try:
                return fn(conn)
            except sqlite3.Error as e:
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                self._off(e)
                return default

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -------------------------------------------------------------- layers

    def has_layer(self, diff_id: str, schema: int) -> bool:
        return bool(self._run(lambda c: c.execute("SELECT 1 FROM layers WHERE diff_id=? AND schema=?",
                                                  (diff_id, schema)).fetchone(), None))

    def known_layers(self, diff_ids: list[str], schema: int) -> set[str]:
        """Which of ``diff_ids`` have a summary."""
        def q(c: sqlite3.Connection) -> set[str]:
            out: set[str] = set()
            ids = list(dict.fromkeys(diff_ids))
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                rows = c.execute(f"SELECT diff_id FROM layers WHERE schema=? AND diff_id IN "
                                 f"({','.join('?' * len(part))})", (schema, *part)).fetchall()
                out |= {r[0] for r in rows}
            return out

        return self._run(q, set())

    def get_layer(self, diff_id: str, schema: int, fmt: str):
        """The cached :class:`~imgopt.analyze.summary.LayerSummary`, or None."""
        from imgopt.analyze.summary import LayerSummary

        def q(c: sqlite3.Connection):
            row = c.execute("SELECT format, header, chunks, used FROM layers WHERE diff_id=? AND schema=?",
                            (diff_id, schema)).fetchone()
            if row is None or row[0] != fmt:
                return None
            chunks = [r[0] for r in c.execute("SELECT data FROM chunks WHERE diff_id=? AND schema=? ORDER BY seq",
                                              (diff_id, schema))]
            if len(chunks) != row[2]:
                return None
            now = time.time()
            if now - row[3] > TOUCH_EVERY:
                c.execute("UPDATE layers SET used=? WHERE diff_id=? AND schema=?", (now, diff_id, schema))
            return LayerSummary.from_header(diff_id, json.loads(row[1]), chunks)

        s = self._run(q)
        if s is None:
            self.misses += 1
        else:
            self.hits += 1
        return s

    def put_layer(self, summary, fmt: str) -> None:
        """Store a verified summary (and what is known of the blob it was read from)."""
        if not summary.verified:
            return

        def q(c: sqlite3.Connection) -> None:
            now = time.time()
            c.execute("BEGIN IMMEDIATE")
            c.execute("DELETE FROM chunks WHERE diff_id=? AND schema=?", (summary.diff_id, summary.schema))
            c.executemany("INSERT INTO chunks VALUES(?,?,?,?)",
                          [(summary.diff_id, summary.schema, i, ch) for i, ch in enumerate(summary.chunks)])
            c.execute("INSERT OR REPLACE INTO layers VALUES(?,?,?,?,?,?,?,?)",
                      (summary.diff_id, summary.schema, fmt, json.dumps(summary.header()), len(summary.chunks),
                       summary.packed_bytes, now, now))
            if summary.blob is not None:
                _put_blob(c, summary.blob, summary.diff_id, now)
            c.execute("COMMIT")
            self.writes += 1

        self._run(q)
        self._bound(summary.packed_bytes)

    # --------------------------------------------------------------- blobs

    def put_blob(self, blob, diff_id: str) -> None:
        def q(c: sqlite3.Connection) -> None:
            _put_blob(c, blob, diff_id, time.time())

        self._run(q)

    def get_blob(self, digest: str) -> dict[str, Any] | None:
        def q(c: sqlite3.Connection):
            row = c.execute("SELECT diff_id, size, compression, push_gzip_bytes FROM blobs WHERE digest=?",
                            (digest,)).fetchone()
            return None if row is None else {"diff_id": row[0], "size": row[1], "compression": row[2],
                                             "push_gzip_bytes": row[3]}

        return self._run(q)

    # ------------------------------------------------------------- results

    def get_result(self, key: str) -> Any:
        """A cached JSON document, or None."""
        import zstandard

        def q(c: sqlite3.Connection):
            row = c.execute("SELECT data, used FROM results WHERE key=?", (key,)).fetchone()
            if row is None:
                return None
            now = time.time()
            if now - row[1] > TOUCH_EVERY:
                c.execute("UPDATE results SET used=? WHERE key=?", (now, key))
            return row[0]

        data = self._run(q)
        if data is None:
            self.misses += 1
            return None
        self.hits += 1
        try:
            return json.loads(zstandard.ZstdDecompressor().decompress(data))
        except (ValueError, zstandard.ZstdError):
            return None

    def put_result(self, key: str, doc: Any) -> None:
        import zstandard

        data = zstandard.ZstdCompressor(level=3).compress(json.dumps(doc, separators=(",", ":")).encode())

        def q(c: sqlite3.Connection) -> None:
            now = time.time()
            c.execute("INSERT OR REPLACE INTO results VALUES(?,?,?,?,?)", (key, data, len(data), now, now))
            self.writes += 1

        self._run(q)
        self._bound(len(data))

    # ----------------------------------------------------- size and pruning

    def totals(self) -> Totals:
        def q(c: sqlite3.Connection) -> Totals:
            nl, lb, lo, ln = c.execute("SELECT COUNT(*), COALESCE(SUM(nbytes),0), MIN(used), MAX(used) "
                                       "FROM layers").fetchone()
            nr, rb, ro, rn = c.execute("SELECT COUNT(*), COALESCE(SUM(nbytes),0), MIN(used), MAX(used) "
                                       "FROM results").fetchone()
            nb = c.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
            olds = [x for x in (lo, ro) if x is not None]
            news = [x for x in (ln, rn) if x is not None]
            return Totals(nl, lb, nr, rb, nb, self.file_bytes(), min(olds) if olds else None,
                          max(news) if news else None)

        return self._run(q, Totals(0, 0, 0, 0, 0, self.file_bytes(), None, None))

    def file_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(self.path + suffix)
            except OSError:
                pass
        return total

    def _bound(self, added: int) -> None:
        """Prune once the stored bytes pass the bound.  They are counted (a SUM over both tables) only when
        this process's running total says the bound may be passed, or every RECOUNT_EVERY writes (other
        processes write too), not after every write."""
        if self.max_bytes <= 0:
            return
        self._uncounted += 1
        if self._stored is not None and self._uncounted < RECOUNT_EVERY and \
                self._stored + added <= self.max_bytes:
            self._stored += added  # a replaced entry is counted twice: an over-estimate, corrected by a recount
            return
        t = self._run(lambda c: c.execute("SELECT (SELECT COALESCE(SUM(nbytes),0) FROM layers) + "
                                          "(SELECT COALESCE(SUM(nbytes),0) FROM results)").fetchone()[0], None)
        self._stored, self._uncounted = t, 0
        if t is not None and t > self.max_bytes:
            self.prune(max_bytes=int(self.max_bytes * 0.9))

    def prune(self, *, max_bytes: int | None = None, older_than: float | None = None,
              everything: bool = False) -> tuple[int, int, int]:
        """Remove entries: all of them, those unused for ``older_than`` seconds, then least recently used
        ones until the stored bytes are at most ``max_bytes``.  Returns (layers, results, bytes) removed."""

        def q(c: sqlite3.Connection) -> tuple[int, int, int]:
            removed = [0, 0, 0]
            c.execute("BEGIN IMMEDIATE")
            victims = list(_lru(c))
            total = sum(v[3] for v in victims)
            cutoff = time.time() - older_than if older_than is not None else None
            for kind, key, schema, nbytes, used in victims:
                drop = everything or (cutoff is not None and used < cutoff) or \
                    (max_bytes is not None and total > max_bytes)
                if not drop:
                    continue
                if kind == "layer":
                    c.execute("DELETE FROM chunks WHERE diff_id=? AND schema=?", (key, schema))
                    c.execute("DELETE FROM layers WHERE diff_id=? AND schema=?", (key, schema))
                    removed[0] += 1
                else:
                    c.execute("DELETE FROM results WHERE key=?", (key,))
                    removed[1] += 1
                removed[2] += nbytes
                total -= nbytes
            if everything:
                c.execute("DELETE FROM blobs")
            else:  # blob rows whose summary went (they are tiny; keep those still useful)
                c.execute("DELETE FROM blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers)")
            c.execute("COMMIT")
            c.execute("PRAGMA incremental_vacuum")
            return removed[0], removed[1], removed[2]

        self._stored = None
        return self._run(q, (0, 0, 0))

    def vacuum(self) -> None:
        """Give freed pages back to the file system (needs no other writer for a moment)."""
        self._run(lambda c: (c.execute("PRAGMA wal_checkpoint(TRUNCATE)"), c.execute("VACUUM")))

    def integrity(self) -> str:
        return self._run(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0], "unavailable")


def _lru(c: sqlite3.Connection) -> Iterator[tuple[str, str, int, int, float]]:
    rows = [("layer", d, s, n, u) for d, s, n, u in c.execute("SELECT diff_id, schema, nbytes, used FROM layers")]
    rows += [("result", k, 0, n, u) for k, n, u in c.execute("SELECT key, nbytes, used FROM results")]
    rows.sort(key=lambda r: r[4])
    return iter(rows)


def _put_blob(c: sqlite3.Connection, blob, diff_id: str, now: float) -> None:
    old = c.execute("SELECT push_gzip_bytes FROM blobs WHERE digest=?", (blob.digest,)).fetchone()
    gz = blob.push_gzip_bytes if blob.push_gzip_bytes is not None else (old[0] if old else None)
    c.execute("INSERT OR REPLACE INTO blobs VALUES(?,?,?,?,?,?)",
              (blob.digest, diff_id, blob.size, blob.compression, gz, now))


__all__ = ["LayerCache", "Totals", "SCHEMA_VERSION"]
