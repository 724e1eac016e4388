//! Throughput of the hot path: splitting a realistic auth log into lines and parsing every
//! line, on one core, over a log made by `examples/gen_authlog` (kept in memory so the
//! disk is not measured). Run with `cargo bench --bench parse`.
//!
//! The whole-program figure in the README (`authban check` over a 1,000,000-line file)
//! comes from `bench/check.sh`, which times the release binary.

#[path = "../examples/gen_authlog/logmix.rs"]
mod logmix;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use authban::parse::Parser;

fn log(envelope: logmix::Envelope) -> Vec<u8> {
    let mut out = Vec::new();
    logmix::generate(&mut out, 200_000, 40_000, envelope, 7).expect("writing to memory");
    out
}

fn parser() -> Parser {
    let reference = "2026-11-25T00:00:00Z".parse().expect("a valid timestamp");
    Parser::new(jiff::tz::TimeZone::UTC, reference)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    for (name, envelope) in [
        ("rfc3164", logmix::Envelope::Rfc3164),
        ("rfc3339", logmix::Envelope::Rfc3339),
    ] {
        let data = log(envelope);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(format!("split+parse/{name}"), |b| {
            b.iter(|| {
                let mut p = parser();
                let mut events = 0u64;
                authban::source::read_lines(black_box(&data[..]), |line| {
                    if p.parse(line.bytes).is_some() {
                        events += 1;
                    }
                })
                .expect("reading memory");
                black_box(events)
            })
        });
        group.bench_function(format!("parse-only/{name}"), |b| {
            let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
            b.iter(|| {
                let mut p = parser();
                let mut events = 0u64;
                for line in &lines {
                    if p.parse(black_box(line)).is_some() {
                        events += 1;
                    }
                }
                black_box(events)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
