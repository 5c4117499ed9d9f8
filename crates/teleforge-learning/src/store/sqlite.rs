//! The embedded default store: one SQLite file, safe for many processes writing at once.
//!
//! Why each setting is here:
//! - WAL journal: readers never block the writer and a crashed writer leaves no torn pages.
//! - `synchronous=FULL`: a transaction that returned is on disk, so an acknowledged capture
//!   survives a crash of the process or of the machine.
//! - a busy timeout plus `BEGIN IMMEDIATE` for every write: a deferred transaction that upgrades
//!   to a write can fail with SQLITE_BUSY without waiting; taking the write lock up front makes
//!   concurrent writers queue instead.
//! - migrations run inside `BEGIN IMMEDIATE` and re-read `user_version` under that lock, so two
//!   processes opening a new store together apply each migration exactly once.
//! - `tallies` is kept by triggers in the same transaction as every insert and delete, so
//!   statistics read a few rows even at a million learnings.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{params, params_from_iter, Connection, ErrorCode, OpenFlags, OptionalExtension, Row};

use super::{
    ApplicationTally, CaptureReport, Changes, Evidence, FirstAttemptTally, LearningQuery, LearningStore, RunRecord,
    Tally, VariantOutcome,
};
use crate::error::{Error, Result};
use crate::record::{Learning, Pattern};

/// Each entry moves the schema from version `index` to `index + 1`. Append; never edit.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE learnings (
    id                INTEGER PRIMARY KEY,
    hash              TEXT    NOT NULL UNIQUE,
    language          TEXT    NOT NULL,
    construct_type    TEXT    NOT NULL,
    attempt_number    INTEGER NOT NULL,
    success           INTEGER NOT NULL,
    generated_code    TEXT    NOT NULL,
    validation_errors TEXT    NOT NULL,
    error_pattern     TEXT,
    fix_applied       TEXT,
    timestamp         TEXT    NOT NULL,
    ts_ms             INTEGER NOT NULL,
    run_id            TEXT,
    generator         TEXT,
    context           TEXT
);
CREATE INDEX learnings_by_pattern   ON learnings (language, error_pattern, success, ts_ms);
CREATE INDEX learnings_by_construct ON learnings (language, construct_type, ts_ms);
CREATE INDEX learnings_by_time      ON learnings (language, ts_ms);

CREATE TABLE tallies (
    language       TEXT    NOT NULL,
    construct_type TEXT    NOT NULL,
    error_pattern  TEXT    NOT NULL,
    success        INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (language, construct_type, error_pattern, success)
) WITHOUT ROWID;

CREATE TRIGGER learnings_tally_insert AFTER INSERT ON learnings BEGIN
    INSERT INTO tallies (language, construct_type, error_pattern, success, n)
    VALUES (NEW.language, NEW.construct_type, COALESCE(NEW.error_pattern, ''), NEW.success, 1)
    ON CONFLICT (language, construct_type, error_pattern, success) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER learnings_tally_delete AFTER DELETE ON learnings BEGIN
    UPDATE tallies SET n = n - 1
     WHERE language = OLD.language AND construct_type = OLD.construct_type
       AND error_pattern = COALESCE(OLD.error_pattern, '') AND success = OLD.success;
    DELETE FROM tallies
     WHERE language = OLD.language AND construct_type = OLD.construct_type
       AND error_pattern = COALESCE(OLD.error_pattern, '') AND success = OLD.success AND n <= 0;
END;

CREATE TABLE patterns (
    language     TEXT    NOT NULL,
    pattern_name TEXT    NOT NULL,
    rank         INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    PRIMARY KEY (language, pattern_name)
);
"#,
    r#"
-- Evidence for lessons, kept by triggers in the same transaction as every capture (see
-- docs/LEARNING.md, "Lessons"): first attempts per construct type with learning on or off,
-- first attempts per lesson applied to them, and outcomes per (context signature, variant).
CREATE TABLE first_attempts (
    language       TEXT    NOT NULL,
    construct_type TEXT    NOT NULL,
    learning       INTEGER NOT NULL,
    success        INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (language, construct_type, learning, success)
) WITHOUT ROWID;

CREATE TABLE applications (
    language       TEXT    NOT NULL,
    lesson         TEXT    NOT NULL,
    construct_type TEXT    NOT NULL,
    success        INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (language, lesson, construct_type, success)
) WITHOUT ROWID;

CREATE TABLE variant_outcomes (
    language     TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    variant      TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    successes    INTEGER NOT NULL,
    first_source TEXT    NOT NULL,
    spread       INTEGER NOT NULL,
    last_pattern TEXT,
    PRIMARY KEY (language, signature, variant)
) WITHOUT ROWID;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER learnings_first_attempt AFTER INSERT ON learnings WHEN NEW.attempt_number = 1 BEGIN
    INSERT INTO first_attempts (language, construct_type, learning, success, n)
    VALUES (NEW.language, NEW.construct_type,
            COALESCE(json_extract(NEW.context, '$.learning'), 'on') <> 'off', NEW.success, 1)
    ON CONFLICT (language, construct_type, learning, success) DO UPDATE SET n = n + 1;
    INSERT INTO applications (language, lesson, construct_type, success, n)
    SELECT NEW.language, value, NEW.construct_type, NEW.success, 1
      FROM json_each(COALESCE(json_extract(NEW.context, '$.applied'), '[]')) WHERE true
    ON CONFLICT (language, lesson, construct_type, success) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER learnings_variant_outcome AFTER INSERT ON learnings
WHEN json_extract(NEW.context, '$.signature') IS NOT NULL AND json_extract(NEW.context, '$.form') IS NOT NULL BEGIN
    INSERT INTO variant_outcomes (language, signature, variant, failures, successes, first_source, spread, last_pattern)
    VALUES (NEW.language, json_extract(NEW.context, '$.signature'), json_extract(NEW.context, '$.form'),
            1 - NEW.success, NEW.success,
            COALESCE(NEW.run_id, '') || '|' || COALESCE(json_extract(NEW.context, '$.file'), ''), 0,
            CASE WHEN NEW.success THEN NULL ELSE NEW.error_pattern END)
    ON CONFLICT (language, signature, variant) DO UPDATE SET
        failures = failures + 1 - NEW.success,
        successes = successes + NEW.success,
        spread = spread OR first_source <> excluded.first_source,
        last_pattern = COALESCE(excluded.last_pattern, last_pattern);
END;

-- Stores created before these tables get the evidence their learnings already hold.
INSERT INTO first_attempts (language, construct_type, learning, success, n)
SELECT language, construct_type, COALESCE(json_extract(context, '$.learning'), 'on') <> 'off', success, COUNT(*)
  FROM learnings WHERE attempt_number = 1 GROUP BY 1, 2, 3, 4;
INSERT INTO applications (language, lesson, construct_type, success, n)
SELECT l.language, j.value, l.construct_type, l.success, COUNT(*)
  FROM learnings l, json_each(COALESCE(json_extract(l.context, '$.applied'), '[]')) j
 WHERE l.attempt_number = 1 GROUP BY 1, 2, 3, 4;
INSERT INTO variant_outcomes (language, signature, variant, failures, successes, first_source, spread, last_pattern)
SELECT language, json_extract(context, '$.signature'), json_extract(context, '$.form'),
       SUM(1 - success), SUM(success),
       MIN(COALESCE(run_id, '') || '|' || COALESCE(json_extract(context, '$.file'), '')),
       COUNT(DISTINCT COALESCE(run_id, '') || '|' || COALESCE(json_extract(context, '$.file'), '')) > 1,
       MAX(CASE WHEN success THEN NULL ELSE error_pattern END)
  FROM learnings
 WHERE json_extract(context, '$.signature') IS NOT NULL AND json_extract(context, '$.form') IS NOT NULL
 GROUP BY 1, 2, 3;
"#,
    r#"
-- One row per run of a generate → validate loop: what it did, for dashboards and reports.
CREATE TABLE runs (
    run_id TEXT    PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    body   TEXT    NOT NULL
);
CREATE INDEX runs_by_time ON runs (ts_ms);
"#,
];

/// How long a writer waits for another process's transaction before giving up with
/// [`Error::Busy`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const COLUMNS: &str = "hash, language, construct_type, attempt_number, success, generated_code, \
    validation_errors, error_pattern, fix_applied, timestamp, run_id, generator, context";

/// A learning store in one SQLite database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`SqliteStore::open`], waiting at most `busy_timeout` for other writers.
    ///
    /// Opening is retried as a whole within the same budget: SQLite does not call the busy
    /// handler for every step of a first open (creating the file, switching a new database to
    /// WAL, recovering another process's WAL index), so when many processes open a store that does
    /// not exist yet, some of them see SQLITE_BUSY at once where an ordinary write would have
    /// waited. A fresh connection after a short, jittered pause succeeds once the first opener is
    /// done.
    pub fn open_with_timeout(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + busy_timeout;
        let mut pause = Duration::from_millis(2);
        let mut attempt: u32 = 0;
        loop {
            match Self::open_once(path, busy_timeout) {
                Err(Error::Busy { .. }) if Instant::now() + pause < deadline => {
                    attempt += 1;
                    std::thread::sleep(pause + jitter(attempt, pause));
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, busy_timeout: Duration) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, "opening the database", e))?;
        let store = SqliteStore { conn: Mutex::new(conn), path: path.to_path_buf() };
        store.configure(busy_timeout)?;
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when SQLite reports "ok".
    pub fn integrity_check(&self) -> Result<()> {
        let conn = self.lock();
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, "checking integrity", e))?;
        if verdict == "ok" {
            Ok(())
        } else {
            Err(Error::Corrupt { path: self.path.clone(), detail: verdict })
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn configure(&self, busy_timeout: Duration) -> Result<()> {
        let conn = self.lock();
        conn.busy_timeout(busy_timeout).map_err(|e| classify(&self.path, "setting the busy timeout", e))?;
        // Reading the schema first turns "file is not a database" into a clear error.
        conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
            .map_err(|e| classify(&self.path, "reading the schema", e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, "enabling WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!("journal mode stays {mode:?}, WAL is required"),
            });
        }
        // The last connection to close would copy the whole WAL into the database file and sync
        // it: ≈ 0.1 s at the end of every command that captured a few thousand learnings. The WAL
        // is durable already (`synchronous=FULL`, one sync per transaction) and every open reads
        // it, so the copy is left to SQLite's automatic checkpoint (when the WAL passes 1,000
        // pages, in a later write). The store is the folder: `learnings.db` with its
        // `learnings.db-wal` (copy both, or use `learnings export`).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| classify(&self.path, "configuring the connection", e))?;
        // A 64 MiB page cache keeps index inserts fast as the store grows past a million rows.
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;")
            .map_err(|e| classify(&self.path, "configuring the connection", e))
    }

    fn migrate(&self) -> Result<()> {
        let supported = MIGRATIONS.len() as i64;
        let current: i64 = self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, "reading the schema version", e))?;
        if current == supported {
            return Ok(());
        }
        self.write("migrating the schema", |conn| {
            // Re-read under the write lock: another process may have migrated meanwhile.
            let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if current > supported {
                return Ok(Some(current));
            }
            for (version, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                conn.execute_batch(sql)?;
                conn.execute_batch(&format!("PRAGMA user_version = {}", version + 1))?;
            }
            Ok(None)
        })?
        .map_or(Ok(()), |found| Err(Error::NewerSchema { path: self.path.clone(), found, supported }))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committing on success and rolling back on
    /// any error.
    fn write<T>(&self, action: &'static str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.lock();
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| classify(&self.path, action, e))?;
        match f(&conn).and_then(|v| conn.execute_batch("COMMIT").map(|()| v)) {
            Ok(v) => Ok(v),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(classify(&self.path, action, e))
            }
        }
    }

    fn read<T>(&self, action: &'static str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&self.lock()).map_err(|e| classify(&self.path, action, e))
    }
}

/// Up to `pause` more, different in every process and attempt, so that processes that collided
/// once do not collide again in lockstep.
fn jitter(attempt: u32, pause: Duration) -> Duration {
    let seed = std::process::id().wrapping_mul(2_654_435_761).wrapping_add(attempt.wrapping_mul(40_503))
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    pause.mul_f64(f64::from(seed % 1000) / 1000.0)
}

/// Turns SQLite's codes into the causes a user can act on.
fn classify(path: &Path, action: &'static str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy { path: path.to_path_buf() },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            Error::Corrupt { path: path.to_path_buf(), detail: e.to_string() }
        }
        _ => Error::Database { action, source: e },
    }
}

fn row_to_learning(row: &Row<'_>) -> rusqlite::Result<Learning> {
    let errors: String = row.get(6)?;
    let context: Option<String> = row.get(12)?;
    let json_err = |i, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(Learning {
        hash: row.get(0)?,
        language: row.get(1)?,
        construct_type: row.get(2)?,
        attempt_number: row.get(3)?,
        success: row.get(4)?,
        generated_code: row.get(5)?,
        validation_errors: serde_json::from_str(&errors).map_err(|e| json_err(6, e))?,
        error_pattern: row.get(7)?,
        fix_applied: row.get(8)?,
        timestamp: row.get(9)?,
        run_id: row.get(10)?,
        generator: row.get(11)?,
        context: match context {
            Some(c) => serde_json::from_str(&c).map_err(|e| json_err(12, e))?,
            None => Default::default(),
        },
    })
}

impl LearningStore for SqliteStore {
    fn capture(&self, learnings: &[Learning]) -> Result<CaptureReport> {
        // Serialise and order outside the lock; the transaction only inserts.
        let mut rows = Vec::with_capacity(learnings.len());
        for l in learnings {
            let ts = l.timestamp_millis()?;
            let errors = serde_json::to_string(&l.validation_errors).expect("strings serialise");
            let context =
                (!l.context.is_empty()).then(|| serde_json::to_string(&l.context).expect("strings serialise"));
            rows.push((l, ts, errors, context));
        }
        self.write("capturing learnings", |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO learnings (hash, language, construct_type, attempt_number, success, \
                 generated_code, validation_errors, error_pattern, fix_applied, timestamp, ts_ms, run_id, generator, context) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let mut report = CaptureReport::default();
            for (l, ts, errors, context) in &rows {
                let n = stmt.execute(params![
                    l.hash, l.language, l.construct_type, l.attempt_number, l.success, l.generated_code, errors,
                    l.error_pattern, l.fix_applied, l.timestamp, ts, l.run_id, l.generator, context
                ])?;
                if n == 1 {
                    report.inserted += 1;
                } else {
                    report.duplicates += 1;
                }
            }
            Ok(report)
        })
    }

    fn for_each_learning(
        &self,
        q: &LearningQuery,
        oldest_first: bool,
        f: &mut dyn FnMut(Learning) -> Result<()>,
    ) -> Result<()> {
        let (sql, args) = select_learnings(q, oldest_first);
        let conn = self.lock();
        let fail = |e| classify(&self.path, "reading learnings", e);
        let mut stmt = conn.prepare(&sql).map_err(fail)?;
        let mut rows = stmt.query(params_from_iter(args.iter())).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            f(row_to_learning(row).map_err(fail)?)?;
        }
        Ok(())
    }

    fn learnings(&self, q: &LearningQuery) -> Result<Vec<Learning>> {
        let (sql, args) = select_learnings(q, false);
        self.read("listing learnings", |conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), row_to_learning)?;
            rows.collect()
        })
    }

    fn find(&self, prefix: &str) -> Result<Vec<Learning>> {
        // GLOB (case-sensitive, like the index) lets SQLite use the unique index on `hash` as a
        // range scan; LIKE read the whole table (0.1 ms against ~300 ms at a million learnings).
        // Hashes are lowercase hex, so anything else (GLOB's own metacharacters included) cannot
        // match and is dropped.
        // Hashes are written lowercase; an imported one keeps its own case, so both are tried.
        let hex: String = prefix.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let (given, lower) = (format!("{hex}*"), format!("{}*", hex.to_ascii_lowercase()));
        self.read("finding a learning", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM learnings WHERE hash GLOB ?1 OR hash GLOB ?2 LIMIT 20"
            ))?;
            let rows = stmt.query_map([given, lower], row_to_learning)?;
            rows.collect()
        })
    }

    fn tallies(&self, language: &str) -> Result<Vec<Tally>> {
        self.read("reading statistics", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT construct_type, error_pattern, success, n FROM tallies WHERE language = ?1 AND n > 0",
            )?;
            let rows = stmt.query_map([language], |r| {
                let pattern: String = r.get(1)?;
                Ok(Tally {
                    construct_type: r.get(0)?,
                    error_pattern: (!pattern.is_empty()).then_some(pattern),
                    success: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn evidence(&self, language: &str, pattern: &str, limit: usize) -> Result<Evidence> {
        self.read("reading a pattern's learnings", |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM learnings WHERE language = ?1 AND error_pattern = ?2 AND success = ?3 \
                 ORDER BY ts_ms DESC, id DESC LIMIT ?4"
            ))?;
            let mut fetch = |success: bool| -> rusqlite::Result<Vec<Learning>> {
                stmt.query_map(params![language, pattern, success, limit as i64], row_to_learning)?.collect()
            };
            Ok(Evidence { failures: fetch(false)?, successes: fetch(true)? })
        })
    }

    fn languages(&self) -> Result<Vec<String>> {
        self.read("listing languages", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT language FROM tallies WHERE n > 0 UNION SELECT language FROM patterns ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn clear(&self, language: &str) -> Result<u64> {
        self.write("clearing learnings", |conn| {
            let n = conn.execute("DELETE FROM learnings WHERE language = ?1", [language])?;
            conn.execute("DELETE FROM tallies WHERE language = ?1", [language])?;
            for table in ["patterns", "first_attempts", "applications", "variant_outcomes"] {
                conn.execute(&format!("DELETE FROM {table} WHERE language = ?1"), [language])?;
            }
            conn.execute("DELETE FROM meta WHERE key = ?1", [mark_key(language)])?;
            Ok(n as u64)
        })
    }

    fn replace_patterns(&self, language: &str, patterns: &[Pattern], upto: Option<i64>) -> Result<()> {
        let bodies: Vec<String> =
            patterns.iter().map(|p| serde_json::to_string(p).expect("patterns serialise")).collect();
        self.write("saving patterns", |conn| {
            conn.execute("DELETE FROM patterns WHERE language = ?1", [language])?;
            if let Some(upto) = upto {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![mark_key(language), upto.to_string()],
                )?;
            }
            let mut stmt = conn
                .prepare_cached("INSERT INTO patterns (language, pattern_name, rank, body) VALUES (?1, ?2, ?3, ?4)")?;
            for (rank, (p, body)) in patterns.iter().zip(&bodies).enumerate() {
                stmt.execute(params![language, p.pattern_name, rank as i64, body])?;
            }
            Ok(())
        })
    }

    fn first_attempts(&self, language: &str) -> Result<Vec<FirstAttemptTally>> {
        self.read("reading first-attempt counts", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT construct_type, learning, success, n FROM first_attempts WHERE language = ?1 AND n > 0",
            )?;
            let rows = stmt.query_map([language], |r| {
                Ok(FirstAttemptTally {
                    construct_type: r.get(0)?,
                    learning: r.get(1)?,
                    success: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn applications(&self, language: &str) -> Result<Vec<ApplicationTally>> {
        self.read("reading lesson applications", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT lesson, construct_type, success, n FROM applications WHERE language = ?1 AND n > 0",
            )?;
            let rows = stmt.query_map([language], |r| {
                Ok(ApplicationTally {
                    lesson: r.get(0)?,
                    construct_type: r.get(1)?,
                    success: r.get(2)?,
                    count: r.get::<_, i64>(3)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn variant_outcomes(&self, language: &str, min_failures: u64) -> Result<Vec<VariantOutcome>> {
        self.read("reading variant outcomes", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT signature, variant, failures, successes, spread, last_pattern FROM variant_outcomes \
                 WHERE language = ?1 AND failures >= ?2 ORDER BY signature, variant",
            )?;
            let rows = stmt.query_map(params![language, min_failures as i64], |r| {
                Ok(VariantOutcome {
                    signature: r.get(0)?,
                    variant: r.get(1)?,
                    failures: r.get::<_, i64>(2)? as u64,
                    successes: r.get::<_, i64>(3)? as u64,
                    spread: r.get(4)?,
                    pattern: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    fn consolidation_mark(&self, language: &str) -> Result<i64> {
        self.read("reading the consolidation mark", |conn| {
            let v: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [mark_key(language)], |r| r.get(0))
                .optional()?;
            Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
        })
    }

    fn changes_since(&self, language: &str, after: i64) -> Result<Changes> {
        self.read("reading new learnings", |conn| {
            let (upto, learnings): (Option<i64>, i64) = conn.query_row(
                "SELECT MAX(id), COUNT(*) FROM learnings WHERE id > ?1 AND language = ?2",
                params![after, language],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT error_pattern FROM learnings \
                 WHERE id > ?1 AND language = ?2 AND error_pattern IS NOT NULL ORDER BY 1",
            )?;
            let patterns = stmt.query_map(params![after, language], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(Changes { upto: upto.unwrap_or(after), learnings: learnings as u64, patterns })
        })
    }

    fn record_run(&self, run: &RunRecord) -> Result<()> {
        let ts = crate::record::parse_timestamp(&run.finished).map(|t| t.timestamp_millis()).ok_or_else(|| {
            Error::invalid("run", format!("finished {:?} is not an ISO 8601 date and time", run.finished))
        })?;
        let body = serde_json::to_string(run).expect("runs serialise");
        self.write("recording a run", |conn| {
            conn.execute(
                "INSERT INTO runs (run_id, ts_ms, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (run_id) DO UPDATE SET ts_ms = excluded.ts_ms, body = excluded.body",
                params![run.run_id, ts, body],
            )?;
            Ok(())
        })
    }

    fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>> {
        let bodies: Vec<String> = self.read("listing runs", |conn| {
            let mut stmt = conn.prepare_cached("SELECT body FROM runs ORDER BY ts_ms DESC, run_id DESC LIMIT ?1")?;
            let rows = stmt.query_map([limit.map_or(-1, |n| n as i64)], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b).map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!("a stored run is not valid JSON: {e}"),
                })
            })
            .collect()
    }

    fn patterns(&self, language: &str) -> Result<Vec<Pattern>> {
        let bodies: Vec<String> = self.read("reading patterns", |conn| {
            let mut stmt = conn.prepare_cached("SELECT body FROM patterns WHERE language = ?1 ORDER BY rank")?;
            let rows = stmt.query_map([language], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b).map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!("a stored pattern is not valid JSON: {e}"),
                })
            })
            .collect()
    }
}

/// The SELECT for a learnings query and its arguments, newest first unless `oldest_first`.
fn select_learnings(q: &LearningQuery, oldest_first: bool) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = format!("SELECT {COLUMNS} FROM learnings WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    for (column, value) in
        [("language", &q.language), ("construct_type", &q.construct_type), ("error_pattern", &q.error_pattern)]
    {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    }
    if q.only_failures {
        sql.push_str(" AND success = 0");
    }
    if q.only_successes {
        sql.push_str(" AND success = 1");
    }
    sql.push_str(if oldest_first { " ORDER BY ts_ms ASC, id ASC" } else { " ORDER BY ts_ms DESC, id DESC" });
    sql.push_str(" LIMIT ?");
    args.push(Value::Integer(q.limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))));
    (sql, args)
}

/// The `meta` key of a language's consolidation mark.
fn mark_key(language: &str) -> String {
    format!("consolidated_upto:{language}")
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}
