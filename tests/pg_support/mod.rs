//! A throwaway PostgreSQL 15 cluster: `initdb` into a folder the caller chooses, `postgres`
//! started as a child on a free port of 127.0.0.1, stopped by its process id (SIGINT: fast
//! shutdown) and removed afterwards. PostgreSQL refuses to run as root, so as root both run
//! as the `postgres` user (`runuser`), with the folder chowned to it. Shared by the latency
//! benchmark (`benches/latency`) and the SQL sink's tests.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program args…`, as the `postgres` user when this process is root.
fn command(program: &Path, args: &[&str]) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{what} failed ({}): {}",
        output.status,
        stderr.trim()
    ))
}

impl PostgresServer {
    /// Creates and starts the cluster in `root` (a folder that does not exist yet, removed
    /// with the server); `Err` says why PostgreSQL cannot be used here.
    pub fn start(root: &Path) -> Result<PostgresServer, String> {
        let bin = Path::new(BIN_DIR);
        if !bin.join("initdb").exists() || !bin.join("postgres").exists() {
            return Err(format!("PostgreSQL 15 binaries not found in {BIN_DIR}"));
        }
        let root = root.to_path_buf();
        let dir = root.join("data");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        if running_as_root() {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&root),
                "chown",
            )?;
        }
        let mut server = PostgresServer {
            dir,
            port: free_port()?,
            child: None,
        };
        server.init()?;
        server.spawn()?;
        server.wait_ready()?;
        Ok(server)
    }

    fn init(&mut self) -> Result<(), String> {
        let dir = self.dir.to_str().ok_or("non-UTF-8 folder")?;
        let initdb = [
            "-D",
            dir,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-locale",
            "-E",
            "UTF8",
        ];
        run(
            &mut command(&Path::new(BIN_DIR).join("initdb"), &initdb),
            "initdb",
        )
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.to_str().ok_or("non-UTF-8 folder")?;
        let log_path = self
            .dir
            .parent()
            .expect("data has a parent")
            .join("server.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| e.to_string())?;
        let port = self.port.to_string();
        let args = [
            "-D",
            dir,
            "-k",
            dir,
            "-p",
            &port,
            "-c",
            "listen_addresses=127.0.0.1",
        ];
        let mut postgres = command(&Path::new(BIN_DIR).join("postgres"), &args);
        postgres
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        self.child = Some(
            postgres
                .spawn()
                .map_err(|e| format!("start postgres: {e}"))?,
        );
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if self.connect().is_ok() {
                return Ok(());
            }
            let child = self.child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "postgres exited at start ({status}); {}",
                    self.log_tail()
                ));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!("postgres not ready after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = self
            .dir
            .parent()
            .expect("data has a parent")
            .join("server.log");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    }

    pub fn connect(&self) -> Result<postgres::Client, String> {
        self.connect_to("postgres")
    }

    /// The connection settings of database `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname} connect_timeout=2",
            self.port
        )
    }

    pub fn connect_to(&self, dbname: &str) -> Result<postgres::Client, String> {
        postgres::Client::connect(&self.url(dbname), postgres::NoTls).map_err(|e| e.to_string())
    }

    /// Creates database `name` and returns its connection settings.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        let mut client = self.connect()?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| e.as_db_error().map_or(e.to_string(), |db| db.to_string()))?;
        Ok(self.url(name))
    }

    /// Stops the server (fast shutdown) and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()?;
        self.wait_ready()
    }

    /// The postmaster's process id, from its pid file (the child may be `runuser`).
    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Fast shutdown by SIGINT to the postmaster's process id, then waits for the child.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = self.postmaster_pid().unwrap_or(child.id());
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "postgres did not stop in {STOP_TIMEOUT:?}: killing process {}",
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let root = self.dir.parent().expect("data has a parent");
        match std::fs::remove_dir_all(root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("remove {}: {e}", root.display()),
        }
    }
}
