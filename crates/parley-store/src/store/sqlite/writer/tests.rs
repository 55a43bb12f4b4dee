use super::*;

fn writer(dir: &tempfile::TempDir) -> Writer {
    writer_riding(dir, RIDE_WAIT)
}

fn writer_riding(dir: &tempfile::TempDir, ride_wait: Duration) -> Writer {
    writer_waiting(dir, ride_wait, Duration::from_secs(1))
}

fn writer_waiting(dir: &tempfile::TempDir, ride_wait: Duration, busy_timeout: Duration) -> Writer {
    let path = dir.path().join("w.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("create table t (k integer primary key, v text not null)")
        .unwrap();
    drop(conn);
    let w = Writer::open_riding(&path, SqliteSynchronous::Normal, busy_timeout, ride_wait).unwrap();
    // Jobs run on their callers' threads whatever the load a slow test machine shows.
    w.shared.lock().unwrap().load.light_below = f64::INFINITY;
    w
}

/// `w` with every job run by its thread: for the tests that hold that thread inside a
/// job, which on the caller's thread would hold the test itself.
fn threaded(mut w: Writer) -> Writer {
    w.callers_run = false;
    w
}

/// The name of the thread a job runs on.
fn thread_name() -> impl FnOnce(&Conn<'_>) -> StoreResult<String> + Send + 'static {
    |conn| {
        conn.execute("insert into t (v) values ('x')", [])?;
        Ok(this_thread())
    }
}

fn this_thread() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// With the connection free and nothing waiting, a job runs on the caller's thread,
/// committed before the call returns; with `synchronous = full` (commits wait for the
/// disk) it goes to the writer thread.
#[tokio::test]
async fn a_job_for_a_free_writer_runs_on_its_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    let here = this_thread();
    assert_eq!(w.run_short(thread_name()).await.unwrap(), here);
    assert_eq!(w.run_first(thread_name()).await.unwrap(), here);
    assert_eq!(w.batches.load(Ordering::Relaxed), 2);
    assert_eq!(count(&dir, "select count(*) from t"), 2);
    // `run`'s jobs may be long: never on the caller's thread.
    assert_eq!(w.run(thread_name()).await.unwrap(), "sqlite-writer");
    assert_eq!(count(&dir, "select count(*) from t"), 3);

    let path = dir.path().join("w.db");
    let full = Writer::open(&path, SqliteSynchronous::Full, Duration::from_secs(1)).unwrap();
    assert_eq!(
        full.run_short(thread_name()).await.unwrap(),
        "sqlite-writer"
    );
    assert_eq!(count(&dir, "select count(*) from t"), 4);
}

/// Past the backstop the next commit may checkpoint on the writer's connection, which
/// copies and syncs the file: a caller's job then goes to the writer thread.
#[tokio::test]
async fn a_job_past_the_backstop_goes_to_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    let here = this_thread();
    assert_eq!(w.run_short(thread_name()).await.unwrap(), here);
    w.wal
        .0
        .store(super::super::checkpoint::BACKSTOP, Ordering::Relaxed);
    assert_eq!(w.run_short(thread_name()).await.unwrap(), "sqlite-writer");
    // The thread answers before it lets go of the connection: wait for it to.
    drop(w.shared.lock().unwrap());
    assert_eq!(w.run_first(thread_name()).await.unwrap(), here);
    assert_eq!(count(&dir, "select count(*) from t"), 3);
}

/// While another caller's job holds the connection, a job goes to the writer thread,
/// which runs it once the connection is free: callers never wait for each other.
#[tokio::test]
async fn a_job_while_another_runs_goes_to_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    let (started, running) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = {
        let w = w.clone();
        std::thread::spawn(move || {
            futures::executor::block_on(w.run_short(move |conn| {
                let _ = started.send(());
                let _ = released.recv();
                conn.execute("insert into t (v) values ('held')", [])?;
                Ok(std::thread::current().id())
            }))
        })
    };
    running.recv().unwrap();
    let job = queued(w.run_short(thread_name()));
    release.send(()).unwrap();
    let holder_thread = holder.thread().id();
    assert_eq!(
        holder.join().unwrap().unwrap(),
        holder_thread,
        "ran where it was called"
    );
    assert_eq!(job.await.unwrap(), "sqlite-writer");
    assert_eq!(count(&dir, "select count(*) from t"), 2);
}

/// A caller never waits for another process's write lock: its job goes to the writer
/// thread, which waits for the lock (up to the busy timeout) and then runs it.
#[tokio::test]
async fn a_job_does_not_wait_on_its_callers_thread_for_another_process() {
    let dir = tempfile::tempdir().unwrap();
    // A busy timeout far longer than a loaded test machine's stalls, so that a caller
    // that waited for the lock cannot pass for one that did not.
    let w = writer_waiting(&dir, RIDE_WAIT, Duration::from_secs(30));
    let other = Connection::open(dir.path().join("w.db")).unwrap();
    other.execute_batch("begin immediate").unwrap();
    let started = Instant::now();
    let job = queued(w.run_short(thread_name()));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the caller waited for the lock"
    );
    other.execute_batch("commit").unwrap();
    assert_eq!(job.await.unwrap(), "sqlite-writer");
    assert_eq!(count(&dir, "select count(*) from t"), 1);
}

/// The connection counts as lightly loaded while under a quarter of the latest whole
/// window was spent in transactions, and again once a quiet window has passed.
#[test]
fn the_load_is_the_busy_share_of_the_latest_window() {
    let mut load = Load::new();
    assert!(load.light(), "a new connection is idle");
    let t0 = Instant::now();
    std::thread::sleep(LOAD_WINDOW / 2);
    load.note(t0 + LOAD_WINDOW / 20);
    assert!(load.light(), "the window is not over yet");
    load.since = Instant::now() - LOAD_WINDOW;
    load.busy = LOAD_WINDOW / 2;
    load.note(Instant::now());
    assert!(
        !load.light(),
        "half the window in transactions: {}",
        load.share
    );
    load.since = Instant::now() - 20 * LOAD_WINDOW;
    load.note(Instant::now());
    assert!(load.light(), "a quiet window: {}", load.share);
}

/// Under load, even a short job goes to the writer thread, where it shares a commit.
#[tokio::test]
async fn under_load_a_short_job_goes_to_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    {
        let mut inner = w.shared.lock().unwrap();
        inner.load.light_below = LIGHT_LOAD;
        inner.load.share = 0.9;
    }
    assert_eq!(w.run_short(thread_name()).await.unwrap(), "sqlite-writer");
    assert_eq!(w.run_first(thread_name()).await.unwrap(), "sqlite-writer");
}

fn insert(k: i64) -> impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static {
    move |conn| {
        conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
        Ok(())
    }
}

/// A riding job does not start a commit: it waits, and the next job that does takes it
/// along (here the wait is a minute, so only the second job can have committed it).
#[tokio::test]
async fn a_riding_job_joins_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer_riding(&dir, Duration::from_secs(60));
    let started = Instant::now();
    let (rode, ran) = tokio::join!(w.run_riding(insert(1)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.run(insert(2)).await
    });
    rode.unwrap();
    ran.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(count(&dir, "select count(*) from t"), 2);
    assert_eq!(w.batches.load(Ordering::Relaxed), 1, "one commit for both");
    // Left among the riders by its caller, it joins the next commit a caller makes.
    let (rode, ran) = tokio::join!(w.run_riding(insert(30)), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.run_short(thread_name()).await
    });
    rode.unwrap();
    assert_ne!(ran.unwrap(), "sqlite-writer", "committed by its caller");
    assert_eq!(count(&dir, "select count(*) from t"), 4);
    assert_eq!(w.batches.load(Ordering::Relaxed), 2, "one commit for both");
}

/// With nothing to ride along with, a riding job is committed alone once its wait is
/// over (and not before).
#[tokio::test]
async fn a_riding_job_alone_is_committed_after_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    let wait = Duration::from_millis(100);
    let w = writer_riding(&dir, wait);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), w.run_riding(insert(7)))
        .await
        .expect("a lone rider is committed")
        .unwrap();
    assert!(started.elapsed() >= wait, "committed before its wait");
    assert_eq!(count(&dir, "select count(*) from t where k = 7"), 1);
    assert_eq!(w.batches.load(Ordering::Relaxed), 1);
}

/// The writer's statements stay prepared for good (`statements.rs`) and their programs hold
/// lookaside slots: with SQLite's default pool they took all of it, and each run of a
/// statement fell back to `malloc`. With the writer's pool, 150 cached statements run
/// without a single allocation missing the pool for want of room.
#[tokio::test]
async fn cached_statements_leave_lookaside_room_for_their_runs() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    // 150 different statements, each `&'static` and cached as the hot path's are.
    let statements: Vec<&'static str> = (0..150)
        .map(|k| {
            &*Box::leak(
                format!(
                    "insert into t (k, v) values (?1, 'statement {k}')
                     on conflict (k) do update set v = excluded.v || ?2"
                )
                .into_boxed_str(),
            )
        })
        .collect();
    let missed = w
        .run(move |conn| {
            for round in 0..3 {
                for (k, sql) in statements.iter().enumerate() {
                    conn.prepare_cached(sql)?
                        .execute(rusqlite::params![k as i64, round])?;
                }
            }
            assert_eq!(
                conn.kept(),
                150 + 1,
                "the 150 and the batch's `begin immediate`"
            );
            let (mut now, mut most) = (0, 0);
            // SAFETY: reads a counter of the connection this job runs on.
            let rc = unsafe {
                rusqlite::ffi::sqlite3_db_status(
                    conn.handle(),
                    rusqlite::ffi::SQLITE_DBSTATUS_LOOKASIDE_MISS_FULL,
                    &mut now,
                    &mut most,
                    0,
                )
            };
            assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
            Ok(most)
        })
        .await
        .unwrap();
    assert_eq!(missed, 0, "allocations that found the lookaside pool full");
    assert_eq!(count(&dir, "select count(*) from t"), 150);
}

/// A read that waits alone runs outside any write transaction: it sees what was
/// committed, and no commit is made for it.
#[tokio::test]
async fn a_read_alone_runs_without_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    w.run(insert(3)).await.unwrap();
    assert_eq!(w.batches.load(Ordering::Relaxed), 1);
    let seen: i64 = w
        .read(|conn| Ok(conn.query_row("select count(*) from t where k = 3", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(seen, 1);
    assert_eq!(
        w.batches.load(Ordering::Relaxed),
        1,
        "no commit for the read"
    );
    // The connection is out of the read's transaction: the next write commits as usual.
    w.run(insert(4)).await.unwrap();
    assert_eq!(count(&dir, "select count(*) from t"), 2);
    assert_eq!(w.batches.load(Ordering::Relaxed), 2);
}

/// The writer's connection never checkpoints in a commit: past `START` WAL pages the
/// checkpoint thread copies them back, the writer copies what came meanwhile when idle,
/// and the WAL starts over, so it does not keep what was copied however much is written.
///
/// How far the WAL grows before it starts over depends on how long the thread's copy and
/// its fsync take, which on a machine busy with other tests can be most of the run: the
/// test checks that the WAL starts over, and that once the copies are done a commit finds
/// it short again, not how many pages the writer appended during a slow copy.
#[tokio::test]
async fn the_wal_starts_over_with_checkpoints_off_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    let (frames, counts) = &w.wal;
    let insert_wide = |k: i64| {
        move |conn: &Conn<'_>| {
            conn.execute(
                "insert into t (k, v) values (?1, ?2)",
                rusqlite::params![k, "x".repeat(600)],
            )?;
            Ok(())
        }
    };
    let (mut restarts, mut before) = (0, 0);
    let mut k = 0;
    let mut note = |frames: u32| {
        if frames < before {
            restarts += 1;
        }
        before = frames;
    };
    // Each commit appends a page or two: several times `START` in all.
    let start = i64::from(super::super::checkpoint::START);
    while k < 4 * start {
        w.run_short(insert_wide(k)).await.unwrap();
        k += 1;
        note(frames.load(Ordering::Relaxed));
    }
    // On a loaded machine the thread's checkpoint may end after the last job: the
    // writer copies what came meanwhile at its next idle moment, after its next job,
    // and the commit after that starts the WAL over.
    let t0 = std::time::Instant::now();
    while (counts.catch_up.load(Ordering::Relaxed) == 0
        || i64::from(frames.load(Ordering::Relaxed)) >= start)
        && t0.elapsed() < Duration::from_secs(60)
    {
        w.run_short(insert_wide(k)).await.unwrap();
        k += 1;
        note(frames.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(counts.thread.load(Ordering::Relaxed) >= 1, "{counts:?}");
    assert!(counts.catch_up.load(Ordering::Relaxed) >= 1, "{counts:?}");
    assert_eq!(counts.backstop.load(Ordering::Relaxed), 0, "{counts:?}");
    assert!(restarts >= 1, "the WAL never started over: {counts:?}");
    let last = frames.load(Ordering::Relaxed);
    assert!(
        i64::from(last) < start,
        "the WAL still holds {last} pages: {counts:?}"
    );
    // Each commit wrote its row's page and a few more, across the WAL's restarts.
    let pages = counts.pages.load(Ordering::Relaxed);
    assert!(
        (4 * start..40 * start).contains(&(pages as i64)),
        "{pages} pages counted"
    );
    assert_eq!(count(&dir, "select count(*) from t"), k);
}

fn count(dir: &tempfile::TempDir, sql: &str) -> i64 {
    Connection::open(dir.path().join("w.db"))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Hundreds of concurrent jobs share commits; the ones that fail after writing leave
/// nothing behind, and the others are all kept and answered only once durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_undoes_only_its_own_writes_in_a_shared_commit() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    let jobs = (0..600i64).map(|k| {
        let w = w.clone();
        tokio::spawn(async move {
            w.run(move |conn| {
                conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
                if k % 3 == 0 {
                    return Err(StoreError::NotFound {
                        what: "test",
                        id: k,
                    });
                }
                if k % 100 == 1 {
                    panic!("a job that panics after writing");
                }
                Ok(k)
            })
            .await
        })
    });
    let results = futures::future::join_all(jobs).await;
    let mut kept = 0;
    for (k, r) in results.into_iter().enumerate() {
        let k = k as i64;
        match r.unwrap() {
            Ok(v) => {
                assert_eq!(v, k);
                kept += 1;
            }
            Err(StoreError::NotFound { id, .. }) => assert_eq!(id, k),
            Err(StoreError::Corrupt(_)) => assert_eq!(k % 100, 1),
            Err(e) => panic!("job {k}: unexpected {e}"),
        }
    }
    assert_eq!(kept, 600 - 200 - 4);
    assert_eq!(count(&dir, "select count(*) from t"), kept);
    assert_eq!(count(&dir, "select count(*) from t where k % 3 = 0"), 0);
    let batches = w.batches.load(Ordering::Relaxed);
    assert!(
        batches < 600,
        "600 concurrent jobs took {batches} transactions: nothing was grouped"
    );
}

/// A job alone in its transaction runs without a savepoint: when it fails or panics
/// after writing, the transaction is rolled back whole, nothing of it stays, and the
/// writer goes on with the next job.
#[tokio::test]
async fn a_failing_job_alone_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    for k in 0..30i64 {
        // One at a time: each job is the only one of its batch.
        let before = w.batches.load(Ordering::Relaxed);
        let result = w
            .run(move |conn| {
                conn.execute("insert into t (k, v) values (?1, 'x')", [k])?;
                conn.execute("insert into t (k, v) values (?1, 'y')", [k + 1000])?;
                match k % 3 {
                    0 => Err(StoreError::NotFound {
                        what: "test",
                        id: k,
                    }),
                    1 if k % 2 == 1 => panic!("a lone job that panics after writing"),
                    _ => Ok(k),
                }
            })
            .await;
        assert_eq!(w.batches.load(Ordering::Relaxed), before + 1);
        match (k % 3, result) {
            (0, Err(StoreError::NotFound { id, .. })) => assert_eq!(id, k),
            (1, Err(StoreError::Corrupt(_))) if k % 2 == 1 => {}
            (_, Ok(v)) => assert_eq!(v, k),
            (_, other) => panic!("job {k}: unexpected {other:?}"),
        }
    }
    let kept: Vec<i64> = (0..30)
        .filter(|k| k % 3 == 2 || (k % 3 == 1 && k % 2 == 0))
        .collect();
    assert_eq!(count(&dir, "select count(*) from t"), 2 * kept.len() as i64);
    for k in kept {
        assert_eq!(
            count(
                &dir,
                &format!("select count(*) from t where k in ({k}, {})", k + 1000)
            ),
            2
        );
    }
    // The connection is still usable, outside any transaction.
    w.run(insert(5000)).await.unwrap();
    assert_eq!(count(&dir, "select count(*) from t where k = 5000"), 1);
}

/// An ingest queued behind more jobs than one batch holds is committed in the next
/// batch, before them; the others keep their order.
#[tokio::test]
async fn an_ingest_goes_before_the_jobs_waiting_ahead_of_it() {
    use futures::FutureExt;
    let dir = tempfile::tempdir().unwrap();
    let w = threaded(writer(&dir));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Holds the writer thread until released, so the jobs below all wait together.
    let (hold, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let gate = w.run(move |_| {
        let _ = started.send(());
        let _ = held.recv();
        Ok(())
    });
    let mut gate = Box::pin(gate);
    assert!((&mut gate).now_or_never().is_none(), "the gate is queued");
    // Its batch has begun, alone: everything below waits for the next ones.
    running.recv().unwrap();
    let jobs = MAX_BATCH as i64 * 3;
    // Polled once each, in order: queued now (nobody waits for their answers).
    for k in 0..jobs {
        let order = order.clone();
        let job = w.run(move |_| {
            order.lock().unwrap().push(k);
            Ok(())
        });
        assert!(job.now_or_never().is_none());
    }
    let ingest = {
        let order = order.clone();
        w.run_first(move |_| {
            order.lock().unwrap().push(-1);
            Ok(())
        })
    };
    let mut ingest = Box::pin(ingest);
    assert!((&mut ingest).now_or_never().is_none());
    hold.send(()).unwrap();
    gate.await.unwrap();
    ingest.await.unwrap();
    // The rest are answered in their turn; wait until the last ran.
    let t0 = std::time::Instant::now();
    while order.lock().unwrap().len() < jobs as usize + 1 {
        assert!(t0.elapsed() < Duration::from_secs(10), "the jobs ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order[0], -1, "the ingest went first");
    assert_eq!(order[1..].to_vec(), (0..jobs).collect::<Vec<_>>());
}

/// The names of the jobs in the order they ran.
type Order = Arc<std::sync::Mutex<Vec<&'static str>>>;

/// A job that notes `name` in `order`.
fn noted(
    order: &Order,
    name: &'static str,
) -> impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static {
    let order = order.clone();
    move |_| {
        order.lock().unwrap().push(name);
        Ok(())
    }
}

/// A job that says when it starts (the receiver), waits to be released (the sender),
/// then notes `name` in `order`.
fn held(
    order: &Order,
    name: &'static str,
) -> (
    impl FnOnce(&Conn<'_>) -> StoreResult<()> + Send + 'static,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (started, running) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let note = noted(order, name);
    let job = move |conn: &Conn<'_>| {
        let _ = started.send(());
        let _ = released.recv();
        note(conn)
    };
    (job, running, release)
}

/// `job` boxed and polled once: queued with the writer, not yet answered.
fn queued<F: std::future::Future>(job: F) -> std::pin::Pin<Box<F>> {
    use futures::FutureExt;
    let mut job = Box::pin(job);
    assert!(
        (&mut job).now_or_never().is_none(),
        "answered before it ran"
    );
    job
}

/// Holds the writer's thread with a job noted `gate` until the sender is used: jobs
/// queued meanwhile wait together for the next batch. Await the future after releasing.
fn hold_writer<'w>(
    w: &'w Writer,
    order: &Order,
) -> (
    std::pin::Pin<Box<impl std::future::Future<Output = StoreResult<()>> + 'w>>,
    std::sync::mpsc::Sender<()>,
) {
    let (gate, gate_running, gate_release) = held(order, "gate");
    let gate = queued(w.run(gate));
    gate_running.recv().unwrap();
    (gate, gate_release)
}

/// An ingest that comes while a batch runs joins it after the job in progress, and the
/// batch commits right after it: the jobs not yet run wait for the next commit, in
/// their order. Here the job after the one in progress blocks until the end, so the
/// ingest is answered only if it did not wait for it.
#[tokio::test]
async fn an_ingest_that_comes_during_a_batch_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = threaded(writer(&dir));
    let order = Order::default();
    let (gate, gate_release) = hold_writer(&w, &order);
    // Queued while the gate holds the thread: the next batch is a, b, c.
    let (a, a_running, a_release) = held(&order, "a");
    let (b, _b_running, b_release) = held(&order, "b");
    let a = queued(w.run(a));
    let b = queued(w.run(b));
    let c = queued(w.run(noted(&order, "c")));
    gate_release.send(()).unwrap();
    gate.await.unwrap();
    a_running.recv().unwrap();
    let mut ingest = queued(w.run_first(noted(&order, "ingest")));
    a_release.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), &mut ingest)
        .await
        .expect("the ingest is committed while b still runs")
        .unwrap();
    a.await.unwrap();
    b_release.send(()).unwrap();
    b.await.unwrap();
    c.await.unwrap();
    assert_eq!(
        order.lock().unwrap().clone(),
        ["gate", "a", "ingest", "b", "c"]
    );
}

/// Ingests keep their order: one that comes while a batch runs goes after the batch's
/// own ingests, not between them.
#[tokio::test]
async fn an_ingest_that_comes_during_a_batch_goes_after_its_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let w = threaded(writer(&dir));
    let order = Order::default();
    let (gate, gate_release) = hold_writer(&w, &order);
    // The next batch: first (which lets the third in while it runs), second, a job.
    let (first, first_running, first_release) = held(&order, "first");
    let first = queued(w.run_first(first));
    let second = queued(w.run_first(noted(&order, "second")));
    let job = queued(w.run(noted(&order, "job")));
    gate_release.send(()).unwrap();
    gate.await.unwrap();
    first_running.recv().unwrap();
    let third = queued(w.run_first(noted(&order, "third")));
    first_release.send(()).unwrap();
    first.await.unwrap();
    second.await.unwrap();
    third.await.unwrap();
    job.await.unwrap();
    assert_eq!(
        order.lock().unwrap().clone(),
        ["gate", "first", "second", "third", "job"]
    );
}

#[tokio::test]
async fn a_batch_that_cannot_commit_reports_every_job_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(&dir);
    // Another connection holds the write lock longer than the busy timeout.
    let blocker = Connection::open(dir.path().join("w.db")).unwrap();
    blocker.execute_batch("begin immediate").unwrap();
    let r = w
        .run(|conn| {
            conn.execute("insert into t (k, v) values (1, 'x')", [])?;
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(StoreError::Commit(_))), "{r:?}");
    blocker.execute_batch("rollback").unwrap();
    assert_eq!(count(&dir, "select count(*) from t"), 0);
    // The writer carries on once the lock is free.
    w.run(|conn| {
        conn.execute("insert into t (k, v) values (2, 'y')", [])?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count(&dir, "select count(*) from t"), 1);
}
