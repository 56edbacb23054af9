//! Running commands, above all the built `damfs`, and what they did.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_damfs");

/// What a command did.
#[derive(Debug)]
pub struct Run {
    /// Exit code, or -1 if killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_fails_with(&self, text: &str) -> &Self {
        assert_ne!(self.code, 0, "command should have failed: {self:#?}");
        assert!(
            self.stderr.contains(text),
            "stderr should mention {text:?}: {self:#?}"
        );
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs a command to completion, capturing its output.
pub fn run(cmd: &mut Command) -> Run {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
        .into()
}

/// Runs `damfs ARGS...`.
pub fn damfs<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(Command::new(BIN).args(args))
}

/// Runs `damfs ARGS...` in `dir` with `stdin` fed to it (empty if `None`) and `RUST_LOG`
/// unset (so the log level is the default a user gets); gives its raw output.
pub fn damfs_output(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn damfs");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.unwrap_or_default().to_vec();
    // Written from a thread: a large input would otherwise fill the pipe and deadlock.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for damfs");
    writer.join().expect("stdin writer");
    out
}

/// [`damfs_output`] as a [`Run`].
pub fn damfs_with(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    damfs_output(dir, args, Some(stdin)).into()
}
