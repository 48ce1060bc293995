//! A fault-injecting TCP proxy for the HTTP storages' fault tests: it listens on
//! `127.0.0.1:0`, forwards to a real test server, and misbehaves as told ([`Fault`]).
//!
//! Changing the fault drops every open connection, so the client's pooled connections cannot
//! carry an old behavior into the next step of a test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to each new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards faithfully.
    Pass,
    /// Forwards, delaying every piece of the server's answer by this long.
    Latency(Duration),
    /// Answers every request `503 Service Unavailable` without asking the server.
    Status503,
    /// Forwards, then resets the connection once this many bytes of the answer went through.
    ResetResponseAfter(usize),
    /// Forwards, then resets the connection once this many bytes of the request went through
    /// (a cut upload).
    ResetRequestAfter(usize),
    /// Accepts and reads, never answers.
    Stall,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    /// Bumped on every change; connections of an older generation close.
    generation: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of the server at `target` (`http://127.0.0.1:PORT`), passing for now.
    pub async fn start(target: &str) -> FaultProxy {
        let target: SocketAddr = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("test servers listen on 127.0.0.1:PORT");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port can be bound");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let (generation, _) = watch::channel(0u64);
        let task = tokio::spawn({
            let fault = fault.clone();
            let generation = generation.clone();
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    let mode = *fault.lock().expect("fault lock");
                    let changed = generation.subscribe();
                    tokio::spawn(serve(client, target, mode, changed));
                }
            }
        });
        FaultProxy {
            addr,
            fault,
            generation,
            task,
        }
    }

    /// The proxy's base URL, to configure a storage with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches to `fault` and closes every open connection.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault lock") = fault;
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

/// A base URL where nothing listens: connections are refused.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port can be bound");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    drop(listener);
    format!("http://{addr}")
}

async fn serve(
    client: TcpStream,
    target: SocketAddr,
    fault: Fault,
    mut changed: watch::Receiver<u64>,
) {
    tokio::select! {
        // A new fault: this connection belongs to the old one and is closed (dropped).
        _ = changed.changed() => {}
        _ = handle(client, target, fault) => {}
    }
}

/// Makes the coming close a TCP reset rather than a clean FIN.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn handle(client: TcpStream, target: SocketAddr, fault: Fault) {
    match fault {
        Fault::Status503 => answer_503(client).await,
        Fault::Stall => {
            let (mut reader, _writer) = client.into_split();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            // Silent until the client gives up or the fault changes.
            std::future::pending::<()>().await;
        }
        Fault::Pass
        | Fault::Latency(_)
        | Fault::ResetResponseAfter(_)
        | Fault::ResetRequestAfter(_) => {
            let Ok(server) = TcpStream::connect(target).await else {
                reset(&client);
                return;
            };
            let (request_limit, response_limit, delay) = match fault {
                Fault::ResetRequestAfter(n) => (Some(n), None, None),
                Fault::ResetResponseAfter(n) => (None, Some(n), None),
                Fault::Latency(d) => (None, None, Some(d)),
                _ => (None, None, None),
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            // Whichever side ends (or reaches its limit) first ends the connection.
            let cut = tokio::select! {
                cut = pump(&mut client_read, &mut server_write, request_limit, None) => cut,
                cut = pump(&mut server_read, &mut client_write, response_limit, delay) => cut,
            };
            if cut {
                reset(client_write.as_ref());
                reset(server_write.as_ref());
            }
        }
    }
}

/// Copies `from` to `to` until end of stream, or until `limit` bytes went through (then
/// returns true: the caller resets the connection).
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    limit: Option<usize>,
    delay: Option<Duration>,
) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if let Some(limit) = limit
            && total + n >= limit
        {
            let _ = to.write_all(&buf[..limit - total]).await;
            return true;
        }
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        total += n;
    }
}

/// Reads one request head and answers 503, then closes.
async fn answer_503(client: TcpStream) {
    let (mut reader, mut writer) = client.into_split();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = writer
        .write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
    let _ = writer.flush().await;
}
