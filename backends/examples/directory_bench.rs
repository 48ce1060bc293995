//! Rough timings of the directory storage, for choosing its defaults (not a test).
//!
//! ```text
//! cargo run --release -p ferry-backends --example directory_bench -- put-file SOURCE STORE_DIR [--no-fsync]
//! cargo run --release -p ferry-backends --example directory_bench -- small STORE_DIR COUNT SIZE [--no-fsync]
//! ```
//! Results go to stderr (stdout is reserved for protocol output across ferry).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ferry_backends::directory::{DirectoryBackend, DirectoryOptions};
use ferry_backends::{Backend, ObjectPath};

/// Peak resident memory of this process so far, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fsync = !args.iter().any(|a| a == "--no-fsync");
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--no-fsync")
        .collect();
    match args.as_slice() {
        ["put-file", source, store] => {
            let b = DirectoryBackend::new(
                PathBuf::from(store),
                None,
                DirectoryOptions {
                    fsync,
                    ..DirectoryOptions::default()
                },
            );
            let path = ObjectPath::new(&format!("bench-{:x}", rand::random::<u32>()))?;
            let len = std::fs::metadata(source)?.len();
            let start = Instant::now();
            b.put_file(&path, source.as_ref(), &|_| {}).await?;
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "put_file {len} bytes fsync={fsync}: {secs:.3} s, {:.0} MiB/s, peak RSS {} KiB",
                len as f64 / secs / 1048576.0,
                peak_rss_kib().unwrap_or(0)
            );
            b.delete(&path).await?;
        }
        ["small", store, count, size] => {
            let count: usize = count.parse().context("COUNT")?;
            let size: usize = size.parse().context("SIZE")?;
            let b = DirectoryBackend::new(
                PathBuf::from(store),
                None,
                DirectoryOptions {
                    fsync,
                    ..DirectoryOptions::default()
                },
            );
            let data = bytes::Bytes::from(vec![7u8; size]);
            let paths: Vec<ObjectPath> = (0..count)
                .map(|i| {
                    let h = format!(
                        "{:06x}",
                        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
                    );
                    ObjectPath::new(&format!("{}/{}/obj-{i}", &h[..3], &h[3..6]))
                })
                .collect::<Result<_, _>>()?;
            let start = Instant::now();
            for path in &paths {
                let body = futures::stream::iter([Ok(data.clone())]);
                b.put(path, Box::pin(body), size as u64, &|_| {}).await?;
            }
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{count} puts of {size} bytes fsync={fsync}: {secs:.3} s, {:.3} ms per object",
                secs * 1000.0 / count as f64
            );
            for path in &paths {
                b.delete(path).await?;
            }
        }
        _ => bail!(
            "usage: put-file SOURCE STORE_DIR [--no-fsync] | small STORE_DIR COUNT SIZE [--no-fsync]"
        ),
    }
    Ok(())
}
