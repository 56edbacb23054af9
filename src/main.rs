//! The `damfs` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use damfs::daemon::{self, MountOptions};

#[derive(Parser)]
#[command(
    name = "damfs",
    version,
    about = "A JSON document store on disk, mountable with FUSE"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mount a store so that each document is a JSON file (/<index> and /by-id/<id>).
    ///
    /// Creates STORE_DIR if it is missing. Without --foreground the daemon detaches and this
    /// command exits 0 once the mount is live. Detached daemons log to --log-file, or else to
    /// STORE_DIR.damfs.log next to the store directory (RUST_LOG sets the level).
    Mount {
        store_dir: PathBuf,
        mountpoint: PathBuf,
        /// Stay in the foreground (log to stderr unless --log-file is given).
        #[arg(long)]
        foreground: bool,
        /// Documents kept in the buffer pool (0: write every change through).
        #[arg(long, default_value_t = 1000)]
        pool_size: usize,
        /// Serve the store read-only: every write fails with EROFS.
        #[arg(long)]
        read_only: bool,
        /// Let other users enter the mount (needs user_allow_other in /etc/fuse.conf
        /// unless run as root).
        #[arg(long)]
        allow_other: bool,
        /// Append the daemon's log to this file.
        #[arg(long, value_name = "FILE")]
        log_file: Option<PathBuf>,
        /// Largest document or temporary file (EFBIG past it); K, M, G suffixes allowed.
        #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
        max_doc_size: u64,
    },
    /// Unmount a damfs mount and wait until its daemon has saved and exited.
    Unmount { mountpoint: PathBuf },
}

/// A byte count: digits with an optional K, M or G (powers of 1024) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (like 4096, 512K, 64M, 1G)"))?;
    n.checked_mul(1 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mount {
            store_dir,
            mountpoint,
            foreground,
            pool_size,
            read_only,
            allow_other,
            log_file,
            max_doc_size,
        } => daemon::mount(MountOptions {
            store: store_dir,
            mountpoint,
            foreground,
            pool_size,
            read_only,
            allow_other,
            log_file,
            max_doc_size,
        }),
        Command::Unmount { mountpoint } => daemon::unmount(&mountpoint),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("damfs: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }
}
