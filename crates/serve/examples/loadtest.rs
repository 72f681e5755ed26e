//! A bounded loopback load test of `POST /api/explain` (docs/performance.md).
//!
//! ```sh
//! cargo run --release -p kvmtriage-serve --example loadtest                  # in-process server
//! kvmtriage serve --listen 127.0.0.1:7373 &
//! cargo run --release -p kvmtriage-serve --example loadtest -- --url http://127.0.0.1:7373/
//! ```
//!
//! Sends `--requests` (1,000) requests of the origin dump from `--concurrency` (16) clients, each
//! on its own keep-alive connection (`--close`: a new connection per request), checks that every
//! answer is 200 and byte-identical to the first, and prints the latency percentiles. Loopback
//! addresses only; it stops by itself after the requests or `--max-seconds` (120).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ORIGIN: &str = include_str!("../../../examples/origin-x2apic-timer.txt");

struct Opts {
    url: Option<String>,
    requests: usize,
    concurrency: usize,
    close: bool,
    max_seconds: u64,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        url: None,
        requests: 1000,
        concurrency: 16,
        close: false,
        max_seconds: 120,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--url" => o.url = Some(value("--url")?),
            "--requests" => {
                o.requests = value("--requests")?
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--concurrency" => {
                o.concurrency = value("--concurrency")?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--max-seconds" => {
                o.max_seconds = value("--max-seconds")?
                    .parse()
                    .map_err(|e| format!("--max-seconds: {e}"))?
            }
            "--close" => o.close = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.requests == 0 || o.concurrency == 0 || o.requests > 100_000 || o.concurrency > 256 {
        return Err("requests 1..=100000, concurrency 1..=256".to_string());
    }
    Ok(o)
}

/// `http://127.0.0.1:7373/` → the socket address; loopback only.
fn loopback_target(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|_| format!("{hostport:?}: give a numeric loopback address and port"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: this load test stays on this machine"
        ));
    }
    Ok(addr)
}

/// One request on `stream`; returns the status and the body.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    buf.clear();
    let mut chunk = [0u8; 65536];
    let split = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the headers".to_string());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or("no Content-Length")?;
    let mut body = buf[split + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed inside the body".to_string());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((status, body))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let opts = parse_args()?;
    let (addr, target) = match &opts.url {
        Some(url) => (loopback_target(url)?, url.clone()),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tokio::spawn(kvmtriage_serve::serve(
                listener,
                kvmtriage_serve::Config::default(),
                std::future::pending(),
            ));
            (addr, format!("in-process server at http://{addr}/"))
        }
    };
    let connection = if opts.close { "close" } else { "keep-alive" };
    let request = Arc::new(
        format!(
            "POST /api/explain HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{ORIGIN}",
            ORIGIN.len()
        )
        .into_bytes(),
    );
    // The expected answer, from a first request outside the measurement.
    let mut warm = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (status, expected) = exchange(&mut warm, &request, &mut Vec::new()).await?;
    if status != 200 {
        return Err(format!("warm-up request: status {status}"));
    }
    drop(warm);
    let expected = Arc::new(expected);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(opts.max_seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..opts.concurrency {
        let (request, expected, next) = (request.clone(), expected.clone(), next.clone());
        let (total, close) = (opts.requests, opts.close);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(64 * 1024);
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let t = Instant::now();
                if stream.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s);
                        }
                        Err(e) => {
                            errors.push(format!("connect: {e}"));
                            continue;
                        }
                    }
                }
                let Some(s) = stream.as_mut() else { continue };
                match exchange(s, &request, &mut buf).await {
                    Ok((200, body)) if body == *expected => latencies.push(t.elapsed()),
                    Ok((200, _)) => errors.push("200 with a different body".to_string()),
                    Ok((status, _)) => errors.push(format!("status {status}")),
                    Err(e) => {
                        errors.push(e);
                        stream = None;
                    }
                }
                if close {
                    stream = None;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (l, e) = w.await.map_err(|e| e.to_string())?;
        latencies.extend(l);
        errors.extend(e);
    }
    let wall = started.elapsed();
    latencies.sort();
    if latencies.is_empty() {
        return Err(format!("no successful request; errors: {errors:?}"));
    }
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!("target: {target}");
    println!(
        "requests: {} ok, {} failed, concurrency {}, connections: {connection}, body {} bytes in, {} bytes out",
        latencies.len(),
        errors.len(),
        opts.concurrency,
        ORIGIN.len(),
        expected.len()
    );
    println!(
        "wall time: {:.3} s, throughput: {:.0} requests/s",
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "latency: p50 {}  p90 {}  p99 {}  max {}  mean {}  min {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies[latencies.len() - 1]),
        ms(mean),
        ms(latencies[0])
    );
    if let Some(e) = errors.first() {
        return Err(format!("{} requests failed, first: {e}", errors.len()));
    }
    if latencies.len() < opts.requests {
        return Err(format!(
            "stopped at the time limit after {} requests",
            latencies.len()
        ));
    }
    Ok(())
}
