//! Group commit: one thread owns the connection and runs every call that arrived while the
//! previous commit was syncing inside one transaction, each call under its own savepoint, so
//! concurrent small requests share one fsync and a failed call still changes nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use cairn_node::durable::next_group;
use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// Calls run in one transaction at most (a bound on how long the first waits for the last).
const BATCH: usize = 64;

/// A call's work, boxed so calls of every result type share one queue.
trait Call: Send {
    /// Runs the work inside the batch's transaction. Returns whether it succeeded (a failed
    /// call's savepoint is rolled back) and how to answer once the batch's commit is known.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Answer);
    /// Answers with `error` without running the work.
    fn refuse(self: Box<Self>, error: StoreError);
}

/// Delivers a call's answer given the outcome of its batch's commit.
type Answer = Box<dyn FnOnce(StoreResult<()>) + Send>;

struct Work<T, F> {
    work: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Call for Work<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Answer) {
        let Work { work, reply } = *self;
        let result = work(tx);
        let ok = result.is_ok();
        let answer = Box::new(move |committed: StoreResult<()>| {
            // The caller may have gone (its request was cancelled); nobody is left to tell.
            let _ = reply.send(committed.and(result));
        });
        (ok, answer)
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The writer thread's handle. Dropping it (with the last store clone) lets the thread
/// finish its queue, close the connection and exit, and waits for that.
pub(super) struct Writer {
    calls: Option<mpsc::Sender<Box<dyn Call>>>,
    thread: Option<JoinHandle<()>>,
    /// Transactions committed (or tried) so far.
    #[cfg(test)]
    batches: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let (calls, queue) = mpsc::channel();
        let batches = Arc::new(AtomicU64::new(0));
        let counted = batches.clone();
        let thread = std::thread::Builder::new()
            .name("pool-store".into())
            .spawn(move || serve(conn, &queue, &counted))
            .map_err(|e| StoreError::Backend(format!("cannot start the store thread: {e}")))?;
        Ok(Self {
            calls: Some(calls),
            thread: Some(thread),
            #[cfg(test)]
            batches,
        })
    }

    /// How many transactions the thread has run.
    #[cfg(test)]
    pub(super) fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Runs `work` in a transaction (shared with whatever calls arrived meanwhile) and
    /// returns its result once that transaction is committed.
    pub(super) async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let gone = || StoreError::Backend("the store thread has stopped".into());
        let (reply, answer) = oneshot::channel();
        let calls = self.calls.as_ref().ok_or_else(gone)?;
        calls
            .send(Box::new(Work { work, reply }))
            .map_err(|_| gone())?;
        // A dropped reply means the call panicked (it was rolled back, and logged).
        answer
            .await
            .map_err(|_| StoreError::Backend("the store call failed; see the pool's log".into()))?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.calls.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's loop: waits for a call, takes every call already queued behind it (up to
/// [`BATCH`]) and runs them as one transaction.
fn serve(mut conn: Connection, queue: &mpsc::Receiver<Box<dyn Call>>, batches: &AtomicU64) {
    while let Some(batch) = next_group(queue, BATCH, usize::MAX, |_| 0) {
        batches.fetch_add(1, Ordering::Relaxed);
        run_batch(&mut conn, batch);
    }
}

fn run_batch(conn: &mut Connection, batch: Vec<Box<dyn Call>>) {
    let backend = |e: rusqlite::Error| StoreError::Backend(e.to_string());
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let error = backend(e);
            for call in batch {
                call.refuse(error.clone());
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for call in batch {
        // An I/O or full-disk error makes SQLite roll the whole transaction back: the calls
        // after it are refused rather than run outside it, and the commit below fails.
        if tx.is_autocommit() {
            call.refuse(StoreError::Backend(
                "the store's transaction was rolled back by an earlier error".into(),
            ));
            continue;
        }
        if let Err(e) = statement(&tx, "SAVEPOINT call") {
            call.refuse(backend(e));
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| call.run(&tx))) {
            Ok((true, answer)) => {
                answers.push(answer);
                if let Err(e) = statement(&tx, "RELEASE call") {
                    tracing::error!(error = %e, "the pool store cannot release a savepoint");
                }
            }
            Ok((false, answer)) => {
                answers.push(answer);
                undo(&tx);
            }
            Err(_) => {
                tracing::error!("a pool store call panicked; its changes are rolled back");
                undo(&tx);
            }
        }
    }
    // If an error made SQLite roll the whole transaction back, the commit fails and every
    // call hears so (nothing of theirs was kept).
    let committed = tx.commit().map_err(backend);
    for answer in answers {
        answer(committed.clone());
    }
}

/// Runs one of the savepoint statements, prepared once per connection.
fn statement(tx: &Transaction<'_>, sql: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Rolls back the current call's savepoint.
fn undo(tx: &Transaction<'_>) {
    if let Err(e) = statement(tx, "ROLLBACK TO call").and_then(|()| statement(tx, "RELEASE call")) {
        tracing::error!(error = %e, "the pool store cannot roll back a failed call");
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    fn open(dir: &tempfile::TempDir) -> Writer {
        let conn = Connection::open(dir.path().join("t.sqlite")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        Writer::start(conn).unwrap()
    }

    fn insert(tx: &Transaction<'_>, n: i64) -> StoreResult<()> {
        tx.execute("INSERT INTO t (n) VALUES (?1)", [n])
            .map(drop)
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    #[tokio::test]
    async fn queued_calls_share_a_transaction_and_each_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(open(&dir));
        // Hold the thread in a first call until the others are queued behind it.
        let (running, started) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let first = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(move |tx| {
                        running.send(()).unwrap();
                        hold.recv().unwrap();
                        insert(tx, 1)
                    })
                    .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        // Each call is queued when first polled; then the thread is freed.
        let mut two = Box::pin(writer.run(|tx| insert(tx, 2)));
        let mut three = Box::pin(writer.run(|tx| {
            insert(tx, 3)?;
            Err::<(), _>(StoreError::Conflict("refused after writing".into()))
        }));
        let mut four = Box::pin(writer.run(|tx| -> StoreResult<()> {
            insert(tx, 4)?;
            panic!("a bug in a call");
        }));
        let mut five = Box::pin(writer.run(|tx| insert(tx, 5)));
        std::future::poll_fn(|cx| {
            assert!(two.as_mut().poll(cx).is_pending());
            assert!(three.as_mut().poll(cx).is_pending());
            assert!(four.as_mut().poll(cx).is_pending());
            assert!(five.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        release.send(()).unwrap();
        let (two, three, four, five) = tokio::join!(two, three, four, five);
        first.await.unwrap().unwrap();
        two.unwrap();
        assert_eq!(
            three,
            Err(StoreError::Conflict("refused after writing".into()))
        );
        assert!(matches!(four, Err(StoreError::Backend(_))), "{four:?}");
        five.unwrap();
        let rows = writer
            .run(|tx| {
                let mut stmt = tx.prepare("SELECT n FROM t ORDER BY n").unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap();
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>().unwrap())
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            [1, 2, 5],
            "the refused and the panicked call left nothing"
        );
        assert_eq!(
            writer.batches(),
            3,
            "the four queued calls ran as one transaction"
        );
    }
}
