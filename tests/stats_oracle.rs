//! `import` then `stats --json` equals an independent computation over the same
//! generated input; importing the same data as daily files, or as CSV, gives the same
//! database content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sightline::Db;
use sightline::generate::{GenOptions, write_jsonl};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn sightline");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn import(db: &Path, files: &[&Path]) -> Value {
    let mut cmd = bin();
    cmd.arg("import")
        .arg("--json")
        .arg("--db")
        .arg(db)
        .args(files);
    serde_json::from_str(&run_ok(&mut cmd)).unwrap()
}

fn stats(db: &Path) -> Value {
    serde_json::from_str(&run_ok(
        bin().arg("stats").arg("--json").arg("--db").arg(db),
    ))
    .unwrap()
}

fn generate(
    dir: &Path,
    visitors: u64,
    seed: u64,
    days: u32,
) -> (std::path::PathBuf, Vec<Value>, Vec<String>) {
    let path = dir.join("input.jsonl");
    let f = std::fs::File::create(&path).unwrap();
    write_jsonl(
        &GenOptions {
            visitors,
            seed,
            days,
            ..GenOptions::default()
        },
        f,
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let rows = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (path, rows, lines)
}

fn ts_ms(v: &Value) -> i64 {
    v["ts"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

#[test]
fn stats_match_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let (input, rows, _) = generate(dir.path(), 3000, 11, 60);

    // The oracle: plain counting over the parsed JSON, 30-minute sessionisation.
    let mut per_visitor: HashMap<&str, Vec<i64>> = HashMap::new();
    let (mut conversions, mut actions, mut revenue_cents) = (0u64, 0u64, 0i64);
    for r in &rows {
        per_visitor
            .entry(r["visitorId"].as_str().unwrap())
            .or_default()
            .push(ts_ms(r));
        let t = r["type"].as_str().unwrap_or("pageview");
        if t == "goal" || t == "ecommerceOrder" {
            conversions += 1;
            revenue_cents += r["revenue"]
                .as_f64()
                .map_or(0, |x| (x * 100.0).round() as i64);
        }
        if !matches!(t, "goal" | "ecommerceOrder" | "ecommerceCart") {
            actions += 1;
        }
    }
    let mut visits = 0u64;
    for ts in per_visitor.values_mut() {
        ts.sort_unstable();
        visits += 1 + ts
            .windows(2)
            .filter(|w| w[1] - w[0] > 30 * 60 * 1000)
            .count() as u64;
    }
    let first = rows.iter().map(ts_ms).min().unwrap();
    let last = rows.iter().map(ts_ms).max().unwrap();

    let db = dir.path().join("db");
    let imported = import(&db, &[&input]);
    assert_eq!(imported["events"], rows.len() as u64);
    assert_eq!(imported["visits"], visits);
    assert_eq!(imported["visitors"], per_visitor.len() as u64);
    assert_eq!(imported["rejected"], 0);

    let s = stats(&db);
    assert_eq!(s["events"], rows.len() as u64);
    assert_eq!(s["visits"], visits);
    assert_eq!(s["visitors"], per_visitor.len() as u64);
    assert_eq!(s["actions"], actions);
    assert_eq!(s["conversions"], conversions);
    assert_eq!(
        (s["revenue"].as_f64().unwrap() * 100.0).round() as i64,
        revenue_cents
    );
    let parse = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    assert_eq!(parse(&s["firstEvent"]), first);
    assert_eq!(parse(&s["lastEvent"]), last);
    assert!(s["parts"].as_u64().unwrap() >= 1);
    let on_disk: u64 = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().into_string().unwrap();
            n.starts_with("part-") || n.starts_with("del-")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(s["bytes"], on_disk);
    assert!(
        run_ok(bin().arg("check").arg("--db").arg(&db))
            .lines()
            .last()
            .unwrap()
            .starts_with("ok")
    );
}

fn sorted_visits(db: &Path) -> Vec<sightline::VisitRecord> {
    let db = Db::open_read_only(db).unwrap();
    let mut v = db.snapshot().visits().unwrap();
    v.sort_by(|a, b| (&a.visitor_id, a.start).cmp(&(&b.visitor_id, b.start)));
    v
}

#[test]
fn daily_files_equal_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _, lines) = generate(dir.path(), 600, 5, 20);
    // Split by UTC day, and write each day's rows in reverse order.
    let mut days: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        days.entry(v["ts"].as_str().unwrap()[..10].to_string())
            .or_default()
            .push(l);
    }
    assert!(days.len() >= 15, "expected many days, got {}", days.len());
    let one = dir.path().join("one");
    import(&one, &[&input]);
    let daily = dir.path().join("daily");
    // Import the days newest first: older data arriving later must fix visitCount,
    // visitorType and daysSince* of the visits already stored.
    for (day, rows) in days.iter().rev() {
        let f = dir.path().join(format!("{day}.jsonl"));
        let text: String = rows.iter().rev().map(|l| format!("{l}\n")).collect();
        std::fs::write(&f, text).unwrap();
        import(&daily, &[&f]);
    }
    let mut a = stats(&one);
    let mut b = stats(&daily);
    for k in ["bytes", "parts", "generation"] {
        a.as_object_mut().unwrap().remove(k);
        b.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(a, b);
    let (va, vb) = (sorted_visits(&one), sorted_visits(&daily));
    assert_eq!(va.len(), vb.len());
    for (x, y) in va.iter().zip(&vb) {
        assert_eq!(x, y);
    }
    assert!(run_ok(bin().arg("check").arg("--db").arg(&daily)).starts_with("ok"));
}

#[test]
fn csv_and_jsonl_give_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let (input, rows, _) = generate(dir.path(), 400, 3, 30);
    let mut keys: Vec<String> = rows
        .iter()
        .flat_map(|r| r.as_object().unwrap().keys().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    keys.sort();
    let csv_path = dir.path().join("input.csv");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    w.write_record(&keys).unwrap();
    for r in &rows {
        let rec: Vec<String> = keys
            .iter()
            .map(|k| match &r[k] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        w.write_record(&rec).unwrap();
    }
    w.flush().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    import(&a, &[&input]);
    import(&b, &[&csv_path]);
    assert_eq!(sorted_visits(&a), sorted_visits(&b));
}
