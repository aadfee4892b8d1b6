//! A loopback TCP proxy that adds round-trip time: the benchmarks run through it to see what
//! storage latency does to taskhub (`taskhub bench <scenario> --added-rtt 5ms`).
//!
//! [`LatencyProxy`] accepts on `127.0.0.1:0`, connects each accepted connection to the target
//! (Azurite's port), and holds every chunk of data, in each direction, for half the added round
//! trip after it was read before writing it on. Chunks are stamped when read and written in
//! order, so the delay is a pipeline, not a queue: a request and its response cross it in one
//! added round trip whatever else is in flight, as on a link with that latency (and unlimited
//! bandwidth). [`StorageProxies`] puts one in front of each service of a connection string and
//! hands out the connection string that points at them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Error;
use crate::storage::{Service, StorageAccount};

/// Chunks in flight per direction before the reader waits: bounds the memory a fast sender can
/// make the proxy hold (each chunk is at most [`CHUNK`] bytes).
const IN_FLIGHT: usize = 256;
/// The largest chunk read at once.
const CHUNK: usize = 64 * 1024;

/// A running proxy; it stops (and drops its connections) when dropped.
#[derive(Debug)]
pub struct LatencyProxy {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl LatencyProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target` (`host:port`), each
    /// direction delayed by half of `added_rtt`.
    pub async fn start(target: &str, added_rtt: Duration) -> std::io::Result<LatencyProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        let target = target.to_string();
        let one_way = added_rtt / 2;
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((inbound, _)) => {
                        let token = token.clone();
                        let target = target.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = token.cancelled() => {}
                                _ = forward(inbound, &target, one_way) => {}
                            }
                        });
                    }
                    // Out of file descriptors and the like: the client sees a refused
                    // connection and retries; the listener stays up.
                    Err(e) => {
                        tracing::warn!(error = %e, "latency proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        Ok(LatencyProxy { addr, stop })
    }

    /// Where the proxy listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Carries one connection both ways until both directions have ended.
async fn forward(inbound: TcpStream, target: &str, one_way: Duration) {
    let outbound = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            // The client sees its connection closed, as if the target refused it.
            tracing::warn!(error = %e, target, "latency proxy: cannot connect");
            return;
        }
    };
    // Small HTTP requests must not wait for Nagle's algorithm on top of the added delay.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::join!(
        delayed_copy(in_read, out_write, one_way),
        delayed_copy(out_read, in_write, one_way),
    );
}

/// Copies `from` to `to`, each chunk written `delay` after it was read, in order; shuts `to`'s
/// write side down after `from`'s end (so a half-closed connection stays half-closed).
async fn delayed_copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` here tells the writer the stream ended.
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// One [`LatencyProxy`] in front of each storage service of an account.
pub struct StorageProxies {
    connection_string: String,
    _proxies: Vec<LatencyProxy>,
}

// By hand: the connection string carries the account's secret.
impl std::fmt::Debug for StorageProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageProxies")
            .field("proxies", &self._proxies)
            .finish_non_exhaustive()
    }
}

impl StorageProxies {
    /// Proxies for the blob, queue and table endpoints of `connection_string`, each adding
    /// `added_rtt`. Only `http` endpoints can be proxied: an `https` endpoint (a real account)
    /// would fail its certificate check on 127.0.0.1 — and a real account brings its own
    /// latency.
    pub async fn start(
        connection_string: &str,
        added_rtt: Duration,
    ) -> Result<StorageProxies, Error> {
        let mut account = StorageAccount::parse(connection_string)?;
        let mut proxies = Vec::new();
        for svc in [Service::Blob, Service::Queue, Service::Table] {
            let url = account.url(svc).clone();
            if url.scheme() != "http" {
                return Err(Error::Failed(format!(
                    "--added-rtt needs http storage endpoints (Azurite); the {svc:?} endpoint is \
                     {}, and a real account has latency of its own",
                    url.scheme()
                )));
            }
            let target = account.host_port(svc);
            let proxy = LatencyProxy::start(&target, added_rtt).await.map_err(|e| {
                Error::Failed(format!("cannot start a latency proxy for {target}: {e}"))
            })?;
            let mut via = url;
            let moved = via
                .set_ip_host(proxy.local_addr().ip())
                .and_then(|()| via.set_port(Some(proxy.local_addr().port())));
            if moved.is_err() {
                return Err(Error::Failed(format!(
                    "the {svc:?} endpoint cannot be pointed at the latency proxy"
                )));
            }
            account = account.with_endpoint(svc, via);
            proxies.push(proxy);
        }
        let connection_string = account.to_connection_string().ok_or_else(|| {
            Error::Failed(
                "--added-rtt needs a connection with a key or SAS, not an identity".into(),
            )
        })?;
        Ok(StorageProxies {
            connection_string,
            _proxies: proxies,
        })
    }

    /// The connection string whose endpoints are the proxies (it carries the account's
    /// secret, like the one it came from: never log it).
    pub fn connection_string(&self) -> &str {
        &self.connection_string
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends back what it reads: what comes back has crossed the proxy both ways.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    /// A connection to an echo server through a proxy adding `added` (keep the proxy alive).
    async fn echo_through_proxy(added: Duration) -> (LatencyProxy, TcpStream) {
        let target = echo_server().await;
        let proxy = LatencyProxy::start(&target.to_string(), added)
            .await
            .unwrap();
        let stream = TcpStream::connect(proxy.local_addr()).await.unwrap();
        (proxy, stream)
    }

    /// Every byte value, in a pattern that is not periodic in the chunk size.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[tokio::test]
    async fn bytes_pass_unchanged_both_ways_in_order() {
        let (_proxy, stream) = echo_through_proxy(Duration::from_millis(2)).await;
        let (mut r, mut w) = stream.into_split();
        // Larger than several chunks, written in pieces of odd sizes, so order across chunks
        // matters; the echo sends it back through the other direction.
        let sent = payload(600_000);
        let to_send = sent.clone();
        let writer = tokio::spawn(async move {
            for piece in to_send.chunks(9_973) {
                w.write_all(piece).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "the echoed bytes differ from the ones sent");
    }

    #[tokio::test]
    async fn a_round_trip_takes_at_least_the_added_time() {
        let added = Duration::from_millis(60);
        let (_proxy, mut stream) = echo_through_proxy(added).await;
        let mut buf = [0u8; 5];
        // Several round trips on one connection: each one pays the whole added time (half
        // each way). Only a lower bound: a loaded machine may add any amount on top. With the
        // delay broken on purpose (zero one way), this failed: a round trip took 7.8 ms.
        for _ in 0..3 {
            let t = std::time::Instant::now();
            stream.write_all(b"ping!").await.unwrap();
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping!");
            let took = t.elapsed();
            assert!(
                took >= added,
                "a round trip took {took:?}, less than {added:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_delay_is_a_pipeline_not_a_queue() {
        // 20 messages sent 2 ms apart: with the delay applied per chunk from when it was
        // read, all are back after about one added round trip (100 ms), not twenty. The bound
        // is a wide one (5 round trips) so a loaded machine cannot fail it; with the delay
        // broken on purpose into a sleep before each write, the test failed: 1.08 s.
        let added = Duration::from_millis(100);
        let (_proxy, stream) = echo_through_proxy(added).await;
        let (mut r, mut w) = stream.into_split();
        let t = std::time::Instant::now();
        let writer = tokio::spawn(async move {
            for i in 0..20u8 {
                w.write_all(&[i; 10]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let mut got = vec![0u8; 200];
        r.read_exact(&mut got).await.unwrap();
        writer.await.unwrap();
        let took = t.elapsed();
        assert!(took >= added, "took {took:?}");
        assert!(took < added * 5, "took {took:?}: the delays add up");
        let expected: Vec<u8> = (0..20u8).flat_map(|i| [i; 10]).collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn https_endpoints_are_refused_in_one_line_without_the_key() {
        let key = crate::storage::DEV_ACCOUNT_KEY;
        let conn = format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};\
             EndpointSuffix=core.windows.net"
        );
        let e = StorageProxies::start(&conn, Duration::from_millis(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("http storage endpoints"), "{e}");
        assert!(!e.contains(key) && !e.contains('\n'), "{e}");
    }

    #[tokio::test]
    async fn the_proxied_connection_string_points_at_the_proxies() {
        let conn = StorageAccount::emulator_connection_string(10000, 10001, 10002);
        let proxies = StorageProxies::start(&conn, Duration::from_millis(5))
            .await
            .unwrap();
        let via = StorageAccount::parse(proxies.connection_string()).unwrap();
        let ports: Vec<String> = [Service::Blob, Service::Queue, Service::Table]
            .into_iter()
            .map(|s| via.host_port(s))
            .collect();
        for (p, proxy) in ports.iter().zip(&proxies._proxies) {
            assert_eq!(*p, proxy.local_addr().to_string());
        }
        assert!(via.blob_endpoint().ends_with("/devstoreaccount1"));
        assert_eq!(via.account_name(), "devstoreaccount1");
    }
}
