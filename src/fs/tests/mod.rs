//! The core driven the way real tools drive a mount (the sequences of open, write, flush and rename
//! that sed, vim, jq and bash make),
//! without a kernel.

use std::ffi::OsStr;

use super::*;
use crate::store::Options;
use std::time::Duration;

const RD: i32 = libc::O_RDONLY;
const WR_TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;
const CREATE_EXCL: i32 = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;

struct Fixture {
    _dir: tempfile::TempDir,
    fs: Filesystem,
}

fn fixture_with(n: usize, config: FsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut dam = DocumentArrayMemmap::open(dir.path()).unwrap();
        dam.extend((0..n).map(|i| {
            Document::from_json(format!("{{\"id\":\"id_{i}\",\"text\":\"doc {i}\"}}")).unwrap()
        }))
        .unwrap();
    }
    let store = DocumentArrayMemmap::open_with(
        dir.path(),
        Options {
            buffer_pool_size: 2,
            read_only: config.read_only,
        },
    )
    .unwrap();
    Fixture {
        fs: Filesystem::new(store, config),
        _dir: dir,
    }
}

fn fixture(n: usize) -> Fixture {
    fixture_with(n, FsConfig::default())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

impl Fixture {
    fn ino(&self, parent: Ino, name: &str) -> Ino {
        self.fs.lookup(parent, os(name)).unwrap().attr.ino
    }
    fn cat(&self, parent: Ino, name: &str) -> String {
        let ino = self.ino(parent, name);
        let o = self.fs.open(ino, RD).unwrap();
        let data = self.fs.read(ino, o.fh, 0, 1 << 20).unwrap();
        self.fs.release(ino, o.fh);
        String::from_utf8(data).unwrap()
    }
    fn ids(&self) -> Vec<String> {
        self.fs.lock().store.ids().map(String::from).collect()
    }
    fn names(&self, dir: Ino) -> Vec<String> {
        self.fs
            .readdir(dir, 0, false, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    }
    /// bash `printf TEXT > /parent/name` on an existing file: OPEN(O_TRUNC), FLUSH before
    /// data, WRITE, FLUSH, RELEASE. Returns the first flush's and the last flush's result.
    fn redirect(&self, parent: Ino, name: &str, text: &str) -> (FsResult<()>, FsResult<()>) {
        let ino = self.ino(parent, name);
        let o = self.fs.open(ino, WR_TRUNC).unwrap();
        let early = self.fs.flush(ino, o.fh);
        self.fs.write(ino, o.fh, 0, text.as_bytes()).unwrap();
        let last = self.fs.flush(ino, o.fh);
        self.fs.release(ino, o.fh);
        (early, last)
    }
}

mod names;
mod other_writers;
mod tools;
mod writes;
