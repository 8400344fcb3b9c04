//! A real 3-node NATS JetStream cluster on 127.0.0.1 for the shipping tests: Debian's
//! `nats-server`, free ports, data in a temporary folder, every server stopped by its PID
//! (SIGKILL) when the guard is dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The server binary: `TRADELEDGER_NATS_SERVER`, else `nats-server` on PATH.
pub fn server_binary() -> String {
    std::env::var("TRADELEDGER_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

pub struct Node {
    pub name: String,
    pub client_port: u16,
    pub monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "{} is running", self.name);
        let log = std::fs::File::create(&self.log).expect("create the server log");
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server (apt-get install nats-server)");
        self.child = Some(child);
    }

    /// kill -9, by PID, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Three servers clustered with JetStream; killed (SIGKILL, by PID) on drop.
pub struct Cluster {
    pub nodes: Vec<Node>,
    _data: tempfile::TempDir,
}

impl Cluster {
    /// Starts the cluster and waits until JetStream has a meta leader. A port taken by
    /// another process between its choice and the server's bind makes that server exit:
    /// the cluster is then started again on other ports.
    pub fn start() -> Cluster {
        for _ in 0..5 {
            if let Some(cluster) = Cluster::try_start() {
                return cluster;
            }
        }
        panic!("could not start a NATS cluster on free ports in 5 attempts");
    }

    fn try_start() -> Option<Cluster> {
        let data = tempfile::tempdir().expect("temporary folder");
        let cluster_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> = cluster_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let mut nodes = Vec::new();
        for (i, cluster_port) in cluster_ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let (client_port, monitor_port) = (free_port(), free_port());
            let store = data.path().join(&name);
            let config = data.path().join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\nlisten: \"127.0.0.1:{client_port}\"\nhttp: \"127.0.0.1:{monitor_port}\"\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: tl, listen: \"127.0.0.1:{cluster_port}\", routes: [{}] }}\n",
                store.display(),
                routes.join(", ")
            );
            std::fs::write(&config, text).expect("write the server config");
            nodes.push(Node {
                log: data.path().join(format!("{name}.log")),
                name,
                client_port,
                monitor_port,
                config,
                child: None,
            });
        }
        let mut cluster = Cluster { nodes, _data: data };
        for node in &mut cluster.nodes {
            node.start();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cluster.ready() {
            let exited = cluster.nodes.iter_mut().any(|n| {
                n.child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            });
            if exited {
                return None; // dropped: the others are killed
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not elect a meta leader: {}",
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(cluster)
    }

    fn ready(&self) -> bool {
        self.nodes.iter().filter(|n| n.is_running()).all(|n| {
            monitor(n.monitor_port, "/jsz").is_some_and(|v| {
                v["meta_cluster"]["leader"]
                    .as_str()
                    .is_some_and(|l| !l.is_empty())
            })
        })
    }

    /// All client URLs, comma-separated.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(Node::url).collect();
        urls.join(",")
    }

    /// Waits until every running server reports a JetStream meta leader.
    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.ready() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not elect a meta leader: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server that leads `stream`, by name (None while there is no leader).
    pub fn stream_leader(&self, stream: &str) -> Option<String> {
        self.nodes.iter().filter(|n| n.is_running()).find_map(|n| {
            let v = monitor(n.monitor_port, "/jsz?accounts=true&streams=true")?;
            find_stream(&v, stream)?["cluster"]["leader"]
                .as_str()
                .map(String::from)
        })
    }

    /// How many replicas `stream` has (its leader and its peers).
    pub fn stream_replicas(&self, stream: &str) -> Option<usize> {
        self.nodes.iter().filter(|n| n.is_running()).find_map(|n| {
            let v = monitor(
                n.monitor_port,
                "/jsz?accounts=true&streams=true&config=true",
            )?;
            find_stream(&v, stream)?["config"]["num_replicas"]
                .as_u64()
                .map(|r| r as usize)
        })
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("a node of the cluster")
    }

    /// Starts a killed server again (same ports, same data).
    pub fn restart(&mut self, name: &str) {
        self.node_mut(name).start();
    }

    /// The last lines of every server's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text.push_str(&format!("\n--- {} ---\n", node.name));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// GET `path` of a server's monitoring port, as JSON.
pub fn monitor(port: u16, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

fn find_stream<'a>(jsz: &'a Value, stream: &str) -> Option<&'a Value> {
    jsz["account_details"]
        .as_array()?
        .iter()
        .find_map(|account| {
            account["stream_detail"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == stream)
        })
}

/// A `tradeledger` process, killed (SIGKILL, by PID) on drop.
pub struct Process {
    pub child: Option<Child>,
    pub stderr: PathBuf,
}

impl Process {
    pub fn spawn(args: &[&str], stderr: &Path) -> Process {
        Process::spawn_logging(args, stderr, "info")
    }

    /// [`Process::spawn`] with the log filter `filter` (`TRADELEDGER_LOG`).
    pub fn spawn_logging(args: &[&str], stderr: &Path, filter: &str) -> Process {
        let log = std::fs::File::create(stderr).expect("create the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_tradeledger"))
            .args(args)
            .env("TRADELEDGER_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tradeledger");
        Process {
            child: Some(child),
            stderr: stderr.to_path_buf(),
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the process to end; its exit code, or None when it did not end in time.
    pub fn wait(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
