//! Runs child processes (toolchains, validators, `--validate-cmd`) so that none can hang teleforge
//! or outlive it: each runs in its own process group, under a time limit; on timeout the whole
//! group is killed, and Ctrl-C (SIGINT) or SIGTERM to teleforge kills every running group before
//! teleforge itself exits. Output is read on threads, so a child that fills a pipe cannot
//! deadlock against us.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a finished child left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child did not finish normally.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started (`NotFound` when it is not on PATH).
    #[error("starting {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than the limit; its process group was killed.
    #[error("`{command}` did not finish within {} and was killed: raise --check-timeout, or find out why it hangs", seconds(*limit))]
    Timeout { command: String, limit: Duration },
    /// Waiting for it or talking to it failed.
    #[error("running {command}: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// `600 s`, `0.3 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// How a command is named in messages: the program and its arguments, shortened.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
        if s.len() > 120 {
            s.truncate(117);
            s.push_str("...");
            break;
        }
    }
    s
}

/// Runs `cmd` to completion with `stdin` fed to it (none when `None`), capturing stdout and
/// stderr, in its own process group, killed (the whole group) after `limit`.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Result<Output, RunError> {
    start(cmd)?.finish(stdin, limit)
}

/// A child started before its input is ready (a toolchain's start-up overlaps with the caller's
/// work): [`Started::finish`] gives it its standard input and waits, with the time limit counted
/// from then. Dropped without being finished, it is killed with its process group.
pub struct Started {
    command: String,
    /// `None` once finished.
    child: Option<std::process::Child>,
    group: Group,
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.group.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `cmd` in its own process group, standard input piped (see [`Started`]).
pub fn start(cmd: &mut Command) -> Result<Started, RunError> {
    let command = describe(cmd);
    cmd.stdin(Stdio::piped());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        signals::install();
    }
    let child = cmd.spawn().map_err(|source| RunError::Spawn { command: command.clone(), source })?;
    let group = Group::register(child.id());
    Ok(Started { command, child: Some(child), group })
}

impl Started {
    /// Writes `stdin` (none: end of input at once), waits at most `limit`, and returns what the
    /// child printed; on timeout the group gets SIGTERM, then SIGKILL half a second later.
    pub fn finish(mut self, stdin: Option<&[u8]>, limit: Duration) -> Result<Output, RunError> {
        let command = std::mem::take(&mut self.command);
        let group = &self.group;
        let Some(mut child) = self.child.take() else {
            // `finish` takes the child by value, once: never reached.
            return Err(RunError::Io { command, source: std::io::Error::other("finished twice") });
        };
        let deadline = Instant::now() + limit;
        let out_rx = drain(child.stdout.take());
        let err_rx = drain(child.stderr.take());
        let input = stdin.map(<[u8]>::to_vec);
        let stdin_pipe = child.stdin.take();
        // Written on a thread: a child that prints before it reads would otherwise block us both.
        if let (Some(mut pipe), Some(bytes)) = (stdin_pipe, input) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        let status = match status_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(status)) => status,
            Ok(Err(source)) => {
                group.kill();
                return Err(RunError::Io { command, source });
            }
            Err(_) => {
                // SIGTERM first, so a toolchain can remove its temporary files (go does); whatever
                // is still there half a second later is killed.
                group.terminate();
                let _ = status_rx.recv_timeout(Duration::from_millis(500));
                group.kill();
                return Err(RunError::Timeout { command, limit });
            }
        };
        // Anything the leader left running in its group (`cmd &`) would keep the pipes open.
        group.kill();
        let grace = Duration::from_secs(2);
        let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
        let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
        Ok(Output { status, stdout, stderr })
    }
}

/// Reads a pipe to its end on a thread; the bytes arrive on the channel.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    match pipe {
        Some(mut p) => {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        None => {
            let _ = tx.send(Vec::new());
        }
    }
    rx
}

/// A running process group, known to the signal handler until dropped; dropping kills it.
struct Group {
    #[allow(dead_code)]
    pgid: i32,
    #[allow(dead_code)]
    slot: Option<usize>,
}

impl Group {
    fn register(pid: u32) -> Group {
        let pgid = i32::try_from(pid).unwrap_or(0);
        #[cfg(unix)]
        {
            Group { pgid, slot: signals::register(pgid) }
        }
        #[cfg(not(unix))]
        {
            Group { pgid, slot: None }
        }
    }

    fn kill(&self) {
        #[cfg(unix)]
        self.signal(libc::SIGKILL);
    }

    fn terminate(&self) {
        #[cfg(unix)]
        self.signal(libc::SIGTERM);
    }

    #[cfg(unix)]
    fn signal(&self, sig: libc::c_int) {
        if self.pgid > 0 {
            // SAFETY: killpg only sends a signal; a group that already ended is ESRCH, ignored.
            unsafe {
                libc::killpg(self.pgid, sig);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(slot) = self.slot {
            signals::unregister(slot);
        }
    }
}

/// The process groups of running children, kept where a signal handler may read them (atomics
/// only), and the SIGINT/SIGTERM handler that kills them.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Once;

    const SLOTS: usize = 256;
    static GROUPS: [AtomicI32; SLOTS] = [const { AtomicI32::new(0) }; SLOTS];
    static INSTALL: Once = Once::new();

    pub(super) fn register(pgid: i32) -> Option<usize> {
        (0..SLOTS).find(|&i| GROUPS[i].compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst).is_ok())
    }

    pub(super) fn unregister(slot: usize) {
        if let Some(g) = GROUPS.get(slot) {
            g.store(0, Ordering::SeqCst);
        }
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        for g in &GROUPS {
            let pgid = g.load(Ordering::SeqCst);
            if pgid > 0 {
                // SAFETY: killpg is async-signal-safe.
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        }
        // Die of the same signal, as teleforge would have without this handler.
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    pub(super) fn install() {
        INSTALL.call_once(|| {
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // SAFETY: the handler only reads atomics and calls async-signal-safe functions.
                unsafe {
                    let previous = libc::signal(sig, on_signal as *const () as libc::sighandler_t);
                    // A signal the parent told us to ignore (`nohup`) stays ignored.
                    if previous == libc::SIG_IGN {
                        libc::signal(sig, libc::SIG_IGN);
                    }
                }
            }
        });
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out =
            run(Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]), Some(b"hello"), Duration::from_secs(20))
                .unwrap();
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn a_hung_child_and_its_group_are_killed_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        // The grandchild would create the marker after 3 s if it survived the group kill.
        let script = format!("(sleep 3; touch {}) & sleep 60", marker.display());
        let start = Instant::now();
        let err = run(Command::new("sh").args(["-c", &script]), None, Duration::from_millis(300)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        let msg = err.to_string();
        assert!(msg.starts_with("`sh -c (sleep 3;") && msg.contains("did not finish within 0.3 s"), "{msg}");
        assert!(matches!(err, RunError::Timeout { .. }));
        std::thread::sleep(Duration::from_millis(3500));
        assert!(!marker.exists(), "a process of the killed group lived on");
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_anyway() {
        let start = Instant::now();
        let err = run(Command::new("sh").args(["-c", "trap '' TERM; sleep 60"]), None, Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, RunError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(&mut Command::new("teleforge-no-such-program"), None, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, RunError::Spawn { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound));
    }

    #[test]
    fn background_children_do_not_keep_the_run_waiting() {
        let start = Instant::now();
        let out = run(Command::new("sh").args(["-c", "sleep 30 & echo done"]), None, Duration::from_secs(20)).unwrap();
        assert_eq!(out.stdout, b"done\n");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
