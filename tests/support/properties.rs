//! Settings of the property tests (proptest).

use proptest::test_runner::{Config, FileFailurePersistence};

/// `cases` cases, or `PROPTEST_CASES` (the long runs: see the README), and failures recorded
/// beside the test's source (`tests/store/fuzz.rs` → `tests/store/fuzz.proptest-regressions`),
/// whose cases run first every time. (proptest's default would put them under
/// `tests/proptest-regressions/` once the source sits beside a `main.rs`.)
pub fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}
