//! Throughput of the object format: sealing and opening 64 MiB in memory with each AEAD (the
//! target is ≥ 1 GB/s for AES-256-GCM on one core), and object names per second.
//!
//! `cargo bench -p ferry-crypto --bench format` (add `-- --quick` for a short run).
//!
//! Time is the benchmark thread's **on-CPU** time (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! the project's 2-core machines are shared with builds, and wall time there mostly measures
//! the neighbours. (`/proc/thread-self/schedstat`, used before, advances only at scheduler
//! ticks, so a short sample such as one object name read as zero time.)

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry_crypto::{Algorithm, Mac, MasterKey, Opener, Sealer, Transform, sealed_len};

const LEN: usize = 64 << 20;
const NAME: &str =
    "FERRYHMACSHA256--acf2ff4f365c39abcfcde67a65b4fb3d88f50bf401824b8c353e225cc26e636d";

/// Nanoseconds this thread has spent on a CPU.
fn on_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Criterion measurement of on-CPU time, in nanoseconds like `WallTime` (whose formatter it
/// borrows).
struct OnCpu {
    wall: WallTime,
}

impl OnCpu {
    fn now(&self) -> u64 {
        on_cpu_ns()
    }
}

impl Measurement for OnCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now()
    }

    fn end(&self, started: u64) -> u64 {
        self.now().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn format(c: &mut Criterion<OnCpu>) {
    let master = MasterKey::from_bytes(&[7; 32]);
    let plain: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let mut group = c.benchmark_group("format-64MiB");
    group
        .throughput(Throughput::Bytes(LEN as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for alg in [Algorithm::Aes256Gcm, Algorithm::ChaCha20Poly1305] {
        // Output buffers are reused, so the figures are crypto plus one copy, not allocation.
        let mut sealed = Vec::with_capacity(sealed_len(LEN as u64).unwrap_or(0) as usize);
        group.bench_function(format!("seal/{alg}"), |b| {
            b.iter(|| {
                sealed.clear();
                let mut sealer = Sealer::with_salt(&master, NAME, alg, [1; 32]);
                sealer.push(black_box(&plain), &mut sealed).expect("seal");
                sealer.finish(&mut sealed).expect("seal");
            })
        });
        let mut opened = Vec::with_capacity(LEN);
        group.bench_function(format!("open/{alg}"), |b| {
            b.iter(|| {
                opened.clear();
                let mut opener = Opener::new(&master, NAME);
                opener.push(black_box(&sealed), &mut opened).expect("open");
                opener.finish(&mut opened).expect("open");
            })
        });
        // Skipped when a filter left out the open benchmark.
        assert!(
            opened.is_empty() || opened == plain,
            "{alg} did not round-trip"
        );
    }
    group.finish();

    // The STORE loop: a hot 64 KiB read buffer sealed into a reused output buffer, as the
    // engine's stream adapter sees it with 64 KiB reads.
    let chunk = &plain[..64 << 10];
    let mut hot = c.benchmark_group("stream-64KiB-chunks");
    hot.throughput(Throughput::Bytes(LEN as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for alg in [Algorithm::Aes256Gcm, Algorithm::ChaCha20Poly1305] {
        let mut out = Vec::with_capacity(256 << 10);
        hot.bench_function(format!("seal/{alg}"), |b| {
            b.iter(|| {
                let mut sealer = Sealer::with_salt(&master, NAME, alg, [1; 32]);
                for _ in 0..LEN / chunk.len() {
                    out.clear();
                    sealer.push(black_box(chunk), &mut out).expect("seal");
                }
                sealer.finish(&mut out).expect("seal");
            })
        });
    }
    hot.finish();

    let name_key = master.name_key(Mac::HmacSha256);
    let mut names = c.benchmark_group("names");
    names.throughput(Throughput::Elements(1));
    names.bench_function("object_name/HMACSHA256", |b| {
        b.iter(|| {
            name_key.object_name(black_box(
                b"SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt",
            ))
        })
    });
    names.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(OnCpu { wall: WallTime });
    targets = format
}
criterion_main!(benches);
