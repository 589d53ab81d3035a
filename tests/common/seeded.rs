//! Seeded proptest configuration for the differential suites: the seed is fixed and
//! printed, and environment variables pick another seed or another number of cases.

use proptest::prelude::ProptestConfig;
use proptest::test_runner::RngSeed;

/// The value of environment variable `name` if it parses, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `cases` cases from the seed `seed` (both already read from the environment), the
/// seed printed with the variable that changes it.
pub fn config(suite: &str, seed_var: &str, seed: u64, cases: u32) -> ProptestConfig {
    eprintln!("{suite}: proptest seed {seed} (set {seed_var} to change)");
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The seed is fixed, so a failure comes back on every run without a file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// How the oracle suites' databases are written (process-wide switches: call it from a
/// test binary whose every database may be written so). Every value gets a per-value
/// summary (not only those held by 64 visits), so the summaries' shortcut is held to
/// the oracle on small data; with `SIGHTLINE_TEST_PART_FORMAT=1` parts are written in
/// format version 1, as the first release wrote them, so that the engine's reading of
/// old parts is held to the oracle as well (CI runs the oracle suites both ways).
#[allow(dead_code)]
pub fn oracle_databases(suite: &str) {
    sightline::testing::set_value_summary_min_visits(1);
    let v1 = std::env::var("SIGHTLINE_TEST_PART_FORMAT").is_ok_and(|v| v.trim() == "1");
    sightline::testing::write_format_v1(v1);
    if v1 {
        eprintln!("{suite}: parts written in format version 1");
    }
}
