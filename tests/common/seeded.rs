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
