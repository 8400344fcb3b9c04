//! Interrupts: SIGINT (as Ctrl-C sends) and SIGTERM, for the commands that end cleanly on one
//! instead of by the signal's default action. A thread of its own waits for either signal and
//! runs the command's action there, at once, then sets a flag the command looks at between its
//! steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

/// The exit code of a command that an interrupt ended (128 + SIGINT, the shell's convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Starts listening for SIGINT and SIGTERM; the first one runs `on_signal` (which may end the
/// process) and then sets the returned flag. Listening has begun when this returns.
pub fn watch(on_signal: impl FnOnce() + Send + 'static) -> anyhow::Result<Arc<AtomicBool>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        let interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
        let terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
        anyhow::Ok((interrupt, terminate))
    })?;
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        });
        on_signal();
        set.store(true, Ordering::Release);
    });
    Ok(flag)
}

/// Whether the flag of [`watch`] is set.
pub fn happened(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Acquire)
}
