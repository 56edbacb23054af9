//! Shell completions (clap_complete) and man pages (clap_mangen), generated from the
//! command-line definition so they never drift from it: `damfs completions SHELL` and
//! `damfs man OUTDIR` (the Debian package installs both).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Writes the completion script for `shell` to `out`.
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes `damfs.1` and one page per subcommand (`damfs-mount.1`, …) into `dir`, creating
/// it if needed. Gives the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd;
    cmd.build();
    let mut written = Vec::new();
    write_page(&cmd, cmd.get_name(), dir, &mut written)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        // The page's title and synopsis name the command as it is typed ("damfs mount").
        let sub = sub.clone().name(name.clone()).bin_name(format!(
            "{} {}",
            cmd.get_name(),
            sub.get_name()
        ));
        write_page(&sub, &name, dir, &mut written)?;
    }
    Ok(written)
}

fn write_page(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut out = BufWriter::new(File::create(&path)?);
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut out)?;
    out.flush()?;
    written.push(path);
    Ok(())
}
