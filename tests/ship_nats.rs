//! `ship` and `mirror` against a real 3-node JetStream cluster (`docs/DISTRIBUTED.md`): after
//! each fault, `dump` of the mirror is byte-identical to the origin's (no gap, no duplicate)
//! and the origin's record anchor verifies on the mirror.

mod nats_support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use nats_support::{Cluster, Process};
use serde_json::Value;

/// Retry delays and idle timers of the processes under test: short, so no test waits on a
/// guess; every wait below is for a condition, with a deadline.
const RETRY_MS: &str = "100";
const TIMEOUT_MS: &str = "2000";
const DEADLINE: Duration = Duration::from_secs(60);

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tradeledger"))
        .args(args)
        .env_remove("TRADELEDGER_LOG")
        .output()
        .expect("run tradeledger")
}

fn ok(args: &[&str]) -> Output {
    let output = run(args);
    assert!(
        output.status.success(),
        "tradeledger {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn status(dir: &Path) -> Value {
    let output = ok(&["status", path(dir), "--json"]);
    serde_json::from_slice(&output.stdout).expect("status --json")
}

fn head(dir: &Path) -> u64 {
    status(dir)["head_seq"].as_u64().expect("head_seq")
}

fn dump(dir: &Path) -> Vec<u8> {
    ok(&["dump", path(dir)]).stdout
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_explained(what, done, String::new);
}

/// [`wait_for`], whose failure message adds `explain()`: the logs that say why.
fn wait_explained(what: &str, mut done: impl FnMut() -> bool, explain: impl Fn() -> String) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}{}",
            explain()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A trader appending `events` at `rate` events/s into `dir` (created first).
fn trader(dir: &Path, events: u64, rate: u64, seed: u64, log: &Path) -> Process {
    if !dir.join("journal.meta").exists() {
        ok(&["init", path(dir), "--segment-size", "262144"]);
    }
    Process::spawn(
        &[
            "load",
            path(dir),
            "--events",
            &events.to_string(),
            "--rate",
            &rate.to_string(),
            "--seed",
            &seed.to_string(),
        ],
        log,
    )
}

fn shipper(cluster: &Cluster, dir: &Path, stream: &str, log: &Path) -> Process {
    shipper_with(cluster, dir, stream, log, &["--timeout-ms", TIMEOUT_MS])
}

fn shipper_with(cluster: &Cluster, dir: &Path, stream: &str, log: &Path, more: &[&str]) -> Process {
    let urls = cluster.urls();
    let mut args = vec![
        "ship",
        path(dir),
        "--nats",
        &urls,
        "--stream",
        stream,
        "--retry-ms",
        RETRY_MS,
        "--in-flight",
        "256",
    ];
    args.extend_from_slice(more);
    Process::spawn(&args, log)
}

fn mirror(cluster: &Cluster, stream: &str, dir: &Path, log: &Path) -> Process {
    Process::spawn(
        &[
            "mirror",
            "--nats",
            &cluster.urls(),
            "--stream",
            stream,
            path(dir),
            "--retry-ms",
            RETRY_MS,
            "--timeout-ms",
            TIMEOUT_MS,
            "--idle-ms",
            "500",
        ],
        log,
    )
}

fn mirror_once(cluster: &Cluster, stream: &str, dir: &Path) {
    ok(&[
        "mirror",
        "--nats",
        &cluster.urls(),
        "--stream",
        stream,
        path(dir),
        "--once",
        "--retry-ms",
        RETRY_MS,
        "--timeout-ms",
        TIMEOUT_MS,
    ]);
}

/// Sends `signal` (`-STOP`, `-CONT`) to the process, by its PID.
fn signal(process: &Process, signal: &str) {
    let pid = process.child.as_ref().expect("running").id().to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success());
}

/// 1,500 more events appended to `dir` at once (`load` continues the journal).
fn trader_more(dir: &Path, log: &Path) -> Process {
    trader(dir, 1500, 20_000, 6, log)
}

fn finish(process: &mut Process, what: &str) {
    let code = process.wait(DEADLINE);
    assert_eq!(code, Some(0), "{what} did not end well: {}", process.log());
}

/// The mirror holds what the origin holds: the same dump, byte for byte, and the origin's
/// record anchor verifies on it; the stream holds each record once.
fn assert_mirrored(origin: &Path, replica: &Path) {
    let anchor = status(origin)["record_anchor"]
        .as_str()
        .expect("record_anchor")
        .to_string();
    let origin_dump = dump(origin);
    assert!(!origin_dump.is_empty());
    let replica_dump = dump(replica);
    assert!(
        origin_dump == replica_dump,
        "the mirror's dump differs: {} lines against {}",
        replica_dump.split(|&b| b == b'\n').count(),
        origin_dump.split(|&b| b == b'\n').count()
    );
    ok(&["verify", path(replica), "--anchor", &anchor]);
}

/// A cluster, an origin journal a trader appends to, and the folder of its mirror.
struct Scene {
    cluster: Cluster,
    tmp: tempfile::TempDir,
    origin: std::path::PathBuf,
    replica: std::path::PathBuf,
    stream: &'static str,
}

impl Scene {
    /// Starts the cluster and a trader appending 6000 events at `rate` events/s.
    fn start(stream: &'static str, rate: u64, seed: u64) -> (Scene, Process) {
        let cluster = Cluster::start();
        let tmp = tempfile::tempdir().unwrap();
        let (origin, replica) = (tmp.path().join("origin"), tmp.path().join("mirror"));
        let trader = trader(&origin, 6000, rate, seed, &tmp.path().join("load.log"));
        let scene = Scene {
            cluster,
            tmp,
            origin,
            replica,
            stream,
        };
        (scene, trader)
    }

    fn log(&self, name: &str) -> std::path::PathBuf {
        self.tmp.path().join(name)
    }

    fn shipper(&self, log: &str) -> Process {
        shipper(&self.cluster, &self.origin, self.stream, &self.log(log))
    }

    fn mirror(&self, log: &str) -> Process {
        mirror(&self.cluster, self.stream, &self.replica, &self.log(log))
    }

    /// Waits until the shipper's progress file says the origin's head is in the stream.
    fn wait_shipped(&self) {
        let target = head(&self.origin);
        wait_explained(
            "everything shipped",
            || status(&self.origin)["shipping"]["shipped_seq"].as_u64() == Some(target),
            || self.logs(),
        );
    }

    /// A mirror holding what the stream holds now, waiting for more.
    fn waiting_mirror(&self) -> Process {
        mirror_once(&self.cluster, self.stream, &self.replica);
        let copy = self.mirror("mirror.log");
        wait_explained(
            "the mirror waiting for messages",
            || copy.log().contains("mirroring from the replica's head"),
            || self.logs(),
        );
        copy
    }

    /// Waits until the mirror holds `records` records or more.
    fn wait_mirror_holds(&self, records: u64) {
        wait_explained(
            "records in the mirror",
            || self.replica.join("journal.meta").exists() && head(&self.replica) >= records,
            || self.logs(),
        );
    }

    /// The last lines of the processes' and the servers' logs, for a failure message.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut names: Vec<_> = std::fs::read_dir(self.tmp.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        names.sort();
        for name in names {
            let log = std::fs::read_to_string(&name).unwrap_or_default();
            text.push_str(&format!("\n--- {} ---\n{}", name.display(), tail(&log, 30)));
        }
        text + &self.cluster.logs()
    }
}

#[test]
fn a_journal_shipped_while_a_trader_appends_is_mirrored_exactly_and_status_shows_no_lag() {
    let (scene, mut trader) = Scene::start("APPEND", 3000, 1);
    let mut ship = scene.shipper("ship.log");
    let mut copy = scene.mirror("mirror.log");
    finish(&mut trader, "the trader");
    scene.wait_mirror_holds(head(&scene.origin));
    scene.wait_shipped();
    let shipping = &status(&scene.origin)["shipping"];
    assert_eq!(shipping["lag_records"], 0);
    assert_eq!(shipping["stream"], "APPEND");
    assert_eq!(scene.cluster.stream_replicas("APPEND"), Some(3));
    ship.kill();
    copy.kill();
    assert_mirrored(&scene.origin, &scene.replica);
}

#[test]
fn the_stream_leader_killed_mid_stream_loses_and_duplicates_nothing() {
    let (mut scene, mut trader) = Scene::start("LEADER", 2000, 2);
    let mut ship = scene.shipper("ship.log");
    let mut copy = scene.mirror("mirror.log");
    scene.wait_mirror_holds(1000);
    let leader = scene
        .cluster
        .stream_leader("LEADER")
        .expect("the stream has a leader");
    scene.cluster.node_mut(&leader).kill();
    finish(&mut trader, "the trader");
    scene.wait_mirror_holds(head(&scene.origin));
    scene.cluster.restart(&leader);
    ship.kill();
    copy.kill();
    assert_mirrored(&scene.origin, &scene.replica);
}

#[test]
fn a_shipper_killed_mid_stream_and_restarted_goes_on_from_the_stream() {
    let (scene, mut trader) = Scene::start("RESTART", 3000, 3);
    let mut ship = scene.shipper("ship1.log");
    wait_for("progress of the first shipper", || {
        status(&scene.origin)["shipping"]["shipped_seq"].as_u64() > Some(500)
    });
    ship.kill();
    let mut ship = scene.shipper("ship2.log");
    finish(&mut trader, "the trader");
    scene.wait_shipped();
    ship.kill();
    assert!(
        ship.log()
            .contains("shipping from the stream's last sequence"),
        "the restarted shipper says where it resumed"
    );
    mirror_once(&scene.cluster, "RESTART", &scene.replica);
    assert_mirrored(&scene.origin, &scene.replica);
}

#[test]
fn a_mirror_killed_and_restarted_goes_on_from_its_head() {
    let (scene, mut trader) = Scene::start("MIRROR", 3000, 4);
    let mut ship = scene.shipper("ship.log");
    let mut copy = scene.mirror("mirror1.log");
    scene.wait_mirror_holds(500);
    copy.kill();
    let mut copy = scene.mirror("mirror2.log");
    finish(&mut trader, "the trader");
    scene.wait_mirror_holds(head(&scene.origin));
    ship.kill();
    copy.kill();
    assert_mirrored(&scene.origin, &scene.replica);
}

#[test]
fn a_zombie_shipper_next_to_a_live_one_is_fenced() {
    // The zombie ships the trader's first records, is stopped, and the trader appends more,
    // which a live shipper ships; woken, the zombie publishes them again after the position
    // it had: the stream refuses (expected last sequence) or drops them (message id).
    let (scene, mut trader) = Scene::start("ZOMBIE", 20_000, 5);
    finish(&mut trader, "the trader");
    // A duplicate window of 100 ms (the server's least): the message ids can hardly save a
    // duplicate, the expected last sequence fences the second shipper.
    let no_dedup = ["--duplicate-window-ms", "100"];
    let (urls, origin) = (&scene.cluster, &scene.origin);
    // The zombie's requests outlast its stop: woken, it publishes from the stream position it
    // had, instead of timing out and starting again from the stream's (which would be safe,
    // but would not meet the fence).
    let zombie_args = [&no_dedup[..], &["--timeout-ms", "60000"]].concat();
    let zombie_log = scene.log("zombie.log");
    let mut zombie = shipper_with(urls, origin, "ZOMBIE", &zombie_log, &zombie_args);
    scene.wait_shipped();
    signal(&zombie, "-STOP");
    let mut more = trader_more(&scene.origin, &scene.log("load2.log"));
    finish(&mut more, "the second trader");
    let live_args = [&no_dedup[..], &["--timeout-ms", TIMEOUT_MS]].concat();
    let mut live = shipper_with(urls, origin, "ZOMBIE", &scene.log("live.log"), &live_args);
    scene.wait_shipped();
    signal(&zombie, "-CONT");
    wait_for("the zombie meeting the fence", || {
        let log = zombie.log();
        log.contains("wrong last sequence") || log.contains("a duplicate publish")
    });
    scene.wait_shipped();
    live.kill();
    zombie.kill();
    mirror_once(&scene.cluster, "ZOMBIE", &scene.replica);
    assert_mirrored(&scene.origin, &scene.replica);

    // A zombie holding another history under the same journal id (a copy of the origin
    // written on after it was copied) is refused, and the stream keeps the origin's.
    let (origin, copy) = (&scene.origin, scene.log("copy"));
    let copied = Command::new("cp")
        .args(["-r", path(origin), path(&copy)])
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_file(copy.join("shipped.json")).unwrap();
    ok(&["load", path(&copy), "--events", "50", "--seed", "99"]);
    ok(&["load", path(origin), "--events", "50", "--seed", "98"]);
    let mut live = scene.shipper("live2.log");
    scene.wait_shipped();
    let mut zombie = shipper(&scene.cluster, &copy, "ZOMBIE", &scene.log("zombie2.log"));
    assert_eq!(zombie.wait(DEADLINE), Some(2), "{}", zombie.log());
    assert!(zombie.log().contains("another history"), "{}", zombie.log());
    live.kill();
    mirror_once(&scene.cluster, "ZOMBIE", &scene.replica);
    assert_mirrored(&scene.origin, &scene.replica);
}

#[test]
fn with_nats_down_trading_goes_on_and_status_shows_the_lag_then_shipping_resumes() {
    let (mut scene, mut trader) = Scene::start("DOWN", 3000, 6);
    let mut ship = scene.shipper("ship.log");
    finish(&mut trader, "the trader");
    scene.wait_shipped();
    let shipped = head(&scene.origin);
    for node in &mut scene.cluster.nodes {
        node.kill();
    }
    // The trader does not wait for NATS.
    ok(&[
        "load",
        path(&scene.origin),
        "--events",
        "500",
        "--seed",
        "7",
    ]);
    let behind = head(&scene.origin) - shipped;
    assert!(behind >= 500);
    let shipping = &status(&scene.origin)["shipping"];
    assert_eq!(shipping["shipped_seq"], shipped);
    assert_eq!(shipping["lag_records"], behind);
    assert!(
        shipping["lag_seconds"].as_f64().unwrap() > 0.0,
        "{shipping}"
    );
    let names: Vec<String> = scene.cluster.nodes.iter().map(|n| n.name.clone()).collect();
    for name in &names {
        scene.cluster.restart(name);
    }
    scene.cluster.wait_ready(DEADLINE);
    scene.wait_shipped();
    assert_eq!(status(&scene.origin)["shipping"]["lag_records"], 0);
    ship.kill();
    mirror_once(&scene.cluster, "DOWN", &scene.replica);
    assert_mirrored(&scene.origin, &scene.replica);
}

/// A stream that ends inside a batch (its shipper stopped between a batch's records): `mirror
/// --once` copies the whole batches, leaves the partial one out, says so and exits 0; once
/// the rest of the batch is in the stream, the next run completes the replica.
#[test]
fn a_stream_ending_inside_a_batch_is_mirrored_up_to_its_last_whole_batch() {
    let (scene, mut trader) = Scene::start("WHOLE", 20_000, 8);
    finish(&mut trader, "the trader");
    ok(&[
        "ship",
        path(&scene.origin),
        "--nats",
        &scene.cluster.urls(),
        "--stream",
        "WHOLE",
        "--once",
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = scene.cluster.nodes[0].url();
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
        let whole = js.get_stream("WHOLE").await.unwrap();
        let config = whole.cached_info().config.clone();
        let last = whole.cached_info().state.last_sequence;
        let mut messages = Vec::new();
        for seq in 1..=last {
            messages.push(whole.get_raw_message(seq).await.unwrap());
        }
        let batch_end = |m: &async_nats::jetstream::message::StreamMessage| -> u64 {
            let end = m.headers.get("Tradeledger-Batch-End").unwrap();
            end.as_str().parse().unwrap()
        };
        // The last record that is not its batch's end: the stream will end just there.
        let cut = (messages.iter().rposition(|m| batch_end(m) > m.sequence))
            .expect("a batch of several records");
        let whole_batches = messages[..=cut]
            .iter()
            .rev()
            .find(|m| batch_end(m) == m.sequence)
            .map_or(0, |m| m.sequence);
        js.delete_stream("WHOLE").await.unwrap();
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "PART".into(),
            num_replicas: 1,
            ..config
        })
        .await
        .unwrap();
        let publish = |m: &async_nats::jetstream::message::StreamMessage| {
            let (js, subject) = (js.clone(), m.subject.clone());
            let (headers, payload) = (m.headers.clone(), m.payload.clone());
            async move {
                let ack = js.publish_with_headers(subject, headers, payload).await;
                ack.unwrap().await.unwrap();
            }
        };
        for message in &messages[..=cut] {
            publish(message).await;
        }
        let output = tokio::task::spawn_blocking({
            let (urls, replica) = (scene.cluster.urls(), scene.replica.clone());
            move || {
                let args = [
                    "mirror",
                    "--nats",
                    &urls,
                    "--stream",
                    "PART",
                    path(&replica),
                ];
                ok(&[&args[..], &["--once", "--idle-ms", "300"]].concat())
            }
        })
        .await
        .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("the stream ends inside a batch"), "{said}");
        assert_eq!(head(&scene.replica), whole_batches, "whole batches only");
        ok(&["verify", path(&scene.replica)]);
        for message in &messages[cut + 1..] {
            publish(message).await;
        }
    });
    mirror_once(&scene.cluster, "PART", &scene.replica);
    assert_mirrored(&scene.origin, &scene.replica);
}

/// A stream the cluster cannot hold (more replicas than servers) is refused by the server:
/// `ship` says so and exits instead of retrying forever; nothing of the journal changes.
#[test]
fn a_stream_the_server_refuses_to_create_ends_ship_with_its_reason() {
    let (scene, mut trader) = Scene::start("REFUSED", 20_000, 9);
    finish(&mut trader, "the trader");
    let before = dump(&scene.origin);
    let output = run(&[
        "ship",
        path(&scene.origin),
        "--nats",
        &scene.cluster.urls(),
        "--stream",
        "REFUSED",
        "--replicas",
        "5",
        "--once",
        "--retry-ms",
        RETRY_MS,
    ]);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("the server refused"), "{said}");
    assert!(said.contains("REFUSED"), "{said}");
    assert_eq!(dump(&scene.origin), before);
}

/// A mirror that has copied everything and waits while the whole cluster restarts: it goes on
/// once the cluster is back.
#[test]
fn a_waiting_mirror_goes_on_after_a_restart_of_the_cluster() {
    let (mut scene, mut trader) = Scene::start("RESTARTED", 20_000, 9);
    finish(&mut trader, "the trader");
    let mut ship = scene.shipper("ship.log");
    scene.wait_shipped();
    let mut copy = scene.waiting_mirror();
    let names: Vec<String> = scene.cluster.nodes.iter().map(|n| n.name.clone()).collect();
    for name in &names {
        scene.cluster.node_mut(name).kill();
    }
    wait_explained(
        "the mirror losing the cluster",
        || copy.log().contains("event: disconnected"),
        || scene.logs(),
    );
    for name in &names {
        scene.cluster.restart(name);
    }
    scene.cluster.wait_ready(DEADLINE);
    let mut more = trader_more(&scene.origin, &scene.log("load2.log"));
    finish(&mut more, "the second trader");
    scene.wait_mirror_holds(head(&scene.origin));
    assert_eq!(
        copy.wait(Duration::ZERO),
        None,
        "the mirror is still running"
    );
    ship.kill();
    copy.kill();
    assert_mirrored(&scene.origin, &scene.replica);
}

/// A consumer that goes quiet while the stream grows (here, deleted on the server: its
/// messages stop without an error, as when the stream's leader moves under it) is found by
/// the mirror's idle timer, which compares with the stream, and replaced.
#[test]
fn a_mirror_whose_consumer_went_quiet_replaces_it() {
    let (scene, mut trader) = Scene::start("QUIET", 20_000, 10);
    finish(&mut trader, "the trader");
    let mut ship = scene.shipper("ship.log");
    scene.wait_shipped();
    let mut copy = scene.waiting_mirror();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(scene.cluster.nodes[0].url())
            .await
            .unwrap();
        let stream = async_nats::jetstream::new(client)
            .get_stream("QUIET")
            .await
            .unwrap();
        let names: Vec<String> = stream.consumer_names().map(|n| n.unwrap()).collect().await;
        assert!(!names.is_empty(), "the mirror has a consumer");
        for name in &names {
            stream.delete_consumer(name).await.unwrap();
        }
    });
    let mut more = trader_more(&scene.origin, &scene.log("load2.log"));
    finish(&mut more, "the second trader");
    scene.wait_mirror_holds(head(&scene.origin));
    let said = copy.log();
    assert!(said.contains("but sent nothing after seq"), "{said}");
    ship.kill();
    copy.kill();
    assert_mirrored(&scene.origin, &scene.replica);
}
