//! SQLite storage: one writer thread with group commits, a few reader threads.
//!
//! - [`migrations`]: the versioned schema (`PRAGMA user_version`).
//!
//! Why a writer thread: SQLite allows one writer at a time, and a commit costs one
//! fdatasync. Every write is a closure sent to the thread; the thread runs all the
//! closures that are queued in one transaction, each inside its own savepoint so that
//! one failing write does not undo its neighbours, commits once, and only then answers
//! each caller. A caller that is told `Ok` knows its rows are on disk.
//!
//! Why reader threads: each owns one connection for the life of the store, so its
//! cached statements and page cache stay warm, and a burst of requests queues for
//! [`READERS`] threads instead of opening a connection (and parsing its SQL) per read on
//! as many blocking threads as there are requests.

mod migrations;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::oneshot;

pub use rusqlite;

/// What went wrong in storage. Carries the SQLite error text, never panics.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database migration to version {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("{0}")]
    Rejected(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One queued write: run inside the batch's transaction, then told whether the batch committed.
trait WriteJob: Send {
    /// Runs the write; `false` means it failed and its savepoint must be rolled back.
    fn run(&mut self, txn: &Transaction<'_>) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<StoreResult<T>>,
    done: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteJob for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, txn: &Transaction<'_>) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = f(txn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let result = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (Some(Ok(_)), Err(e)) => Err(StoreError::Rejected(format!("commit failed: {e}"))),
            (None, Err(e)) => Err(StoreError::Rejected(format!("transaction failed: {e}"))),
            (None, Ok(())) => Err(StoreError::WriterGone),
        };
        let _ = self.done.send(result);
    }
}

/// One queued read, run on a reader thread's connection.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Reader threads (and connections). WAL lets them read while the writer writes.
const READERS: usize = 4;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: std::sync::mpsc::Sender<Box<dyn WriteJob>>,
    readers: std::sync::mpsc::Sender<ReadJob>,
    path: Arc<PathBuf>,
}

/// How many write jobs at most share one transaction.
const MAX_BATCH: usize = 256;

impl Store {
    /// Opens (creating if needed) the database file, applies migrations, starts the writer.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let mut conn = open_connection(path)?;
        migrations::apply(&mut conn)?;
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn WriteJob>>();
        std::thread::Builder::new()
            .name("simgate-db-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Rejected(format!("cannot start the database writer: {e}")))?;
        let (read_tx, read_rx) = std::sync::mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for n in 0..READERS {
            let conn = open_connection(path)?;
            let jobs = read_rx.clone();
            std::thread::Builder::new()
                .name(format!("simgate-db-reader-{n}"))
                .spawn(move || reader_loop(&conn, &jobs))
                .map_err(|e| {
                    StoreError::Rejected(format!("cannot start a database reader: {e}"))
                })?;
        }
        Ok(Store {
            writer: tx,
            readers: read_tx,
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside a write transaction; resolves after the transaction committed.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (done, done_rx) = oneshot::channel::<StoreResult<T>>();
        let job: Box<dyn WriteJob> = Box::new(TypedJob {
            f: Some(f),
            result: None,
            done,
        });
        self.writer.send(job).map_err(|_| StoreError::WriterGone)?;
        done_rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` on one of the reader threads' connections.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (done, done_rx) = oneshot::channel::<StoreResult<T>>();
        let job: ReadJob = Box::new(move |conn| {
            let _ = done.send(f(conn));
        });
        self.readers
            .send(job)
            .map_err(|_| StoreError::Rejected("the database readers have stopped".into()))?;
        done_rx
            .await
            .map_err(|_| StoreError::Rejected("a database reader stopped".into()))?
    }
}

/// Takes read jobs until every [`Store`] handle is gone.
fn reader_loop(conn: &Connection, jobs: &Mutex<std::sync::mpsc::Receiver<ReadJob>>) {
    loop {
        // Only the receive holds the lock; the job runs unlocked, beside the others.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => {
                // A panicking job must not take the thread (and its connection) along.
                let run = std::panic::AssertUnwindSafe(|| job(conn));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("a database read panicked; the reader goes on");
                }
            }
            Err(_) => return,
        }
    }
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // WAL: readers never block the writer. synchronous=FULL: a commit survives power
    // loss, which is what lets a driver delete the SMS from the SIM afterwards.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=5000;",
    )
    .map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // Every query of the box goes through `prepare_cached`: room for all of them, so
    // that a busy route never parses its SQL again.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn writer_loop(mut conn: Connection, rx: std::sync::mpsc::Receiver<Box<dyn WriteJob>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&mut conn, &mut batch);
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn WriteJob>]) -> Result<(), String> {
    let txn = conn.transaction().map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        // A savepoint per job: a failing job rolls back only its own rows.
        txn.execute_batch("SAVEPOINT job")
            .map_err(|e| e.to_string())?;
        let end = if job.run(&txn) {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        txn.execute_batch(end).map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())
}
