//! How long enrichment takes per request: user-agent parsing without and with the
//! cache, referrer classification, campaign detection, language.
//!
//! ```sh
//! cargo run --release --example enrich_speed -- [--rounds N]
//! ```
//!
//! Prints nanoseconds per call, each the best of five timed rounds over a set of real
//! user agents and referrers (`docs/enrichment.md` quotes the figures).

use std::hint::black_box;
use std::time::Instant;

use sightline::enrich::{Enricher, campaign, classify_referrer, language, parse_user_agent};

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

const REFERRERS: &[&str] = &[
    "https://www.google.com/search?q=web+analytics&hl=en",
    "https://www.bing.com/search?q=rust+lang",
    "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example",
    "https://t.co/abc123",
    "https://www.example.org/blog/post?id=3",
    "https://shop.example/cart",
];

/// Nanoseconds per call of `f` over `n` calls, the best of five rounds.
fn ns_per_call(n: usize, mut f: impl FnMut(usize)) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut rounds = 20_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--rounds", Some(n)) if n > 0 => rounds = n,
            _ => {
                eprintln!("usage: enrich_speed [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    let uas = USER_AGENTS.len();
    let uncached = ns_per_call(rounds, |i| {
        black_box(parse_user_agent(black_box(USER_AGENTS[i % uas])));
    });
    let enricher = Enricher::new();
    let cached = ns_per_call(rounds * 10, |i| {
        black_box(enricher.user_agent(black_box(USER_AGENTS[i % uas])));
    });
    let refs = REFERRERS.len();
    let page = Some("https://shop.example/landing");
    let referrer = ns_per_call(rounds * 5, |i| {
        black_box(classify_referrer(black_box(REFERRERS[i % refs]), page));
    });
    let landing = "https://shop.example/?utm_source=news&utm_medium=email&utm_campaign=spring";
    let campaigns = ns_per_call(rounds * 5, |_| {
        black_box(campaign(black_box(landing)));
    });
    let languages = ns_per_call(rounds * 5, |_| {
        black_box(language(black_box("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7")));
    });
    println!("user agent, uncached  {uncached:>8.0} ns/parse");
    println!("user agent, cached    {cached:>8.0} ns/lookup");
    println!("referrer              {referrer:>8.0} ns/call");
    println!("campaign              {campaigns:>8.0} ns/call");
    println!("language              {languages:>8.0} ns/call");
}
