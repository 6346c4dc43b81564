//! The accept loop and one task per connection (mini-redis' `Listener` / `Handler` shape).
//!
//! [`run`] serves already-bound listeners until `shutdown` resolves; then it stops
//! accepting, lets every connection finish the request it is working on, waits for them,
//! and flushes every log. [`spawn`] binds, opens and runs in the background — what tests and
//! embedders use.
//!
//! With `fjord.http.listener` set, [`run`] also serves the HTTP endpoint ([`crate::http`]:
//! metrics and health probes). `/readyz` turns 503 as soon as shutdown begins and the endpoint
//! closes only after the Kafka connections have drained and the logs are flushed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::security::mtls::ClientAuth;

use crate::broker::Broker;
use crate::config::{BrokerConfig, ListenerConfig};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::router::{self, Reply};
use crate::security::sasl::Session;

/// A client that has not finished the TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for HTTP requests in flight (a slow scrape) before dropping them.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds every configured listener.
pub async fn bind(config: &BrokerConfig) -> Result<Vec<(ListenerConfig, TcpListener)>> {
    let mut out = Vec::new();
    for l in &config.listeners {
        let addr = l.bind_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("failed to bind listener {}://{addr}", l.name), e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("failed to read bound address", e))?;
        let bound = ListenerConfig {
            name: l.name.clone(),
            security: l.security,
            host: l.host.clone(),
            port: local.port(),
        };
        out.push((bound, listener));
    }
    Ok(out)
}

/// A broker running in background tasks.
#[derive(Debug)]
pub struct BrokerHandle {
    broker: Arc<Broker>,
    addrs: Vec<SocketAddr>,
    http_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

impl BrokerHandle {
    /// `host:port` of the first listener, for clients' `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addrs
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// Every bound address.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Bound address of the HTTP endpoint (metrics, health probes), when
    /// `fjord.http.listener` is set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The running broker's state.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, flush, close.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::io(
                "broker task failed",
                std::io::Error::other(e.to_string()),
            )),
        }
    }
}

/// How long [`spawn`] waits for the broker to join its cluster.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds the configured listeners, opens the data directory, serves in the background, and
/// returns once the broker has joined its cluster (registered, caught up with the metadata
/// log, unfenced). Until then connections are served only the node-to-node requests the
/// metadata quorum needs, so a client never reaches a broker that is not ready.
pub async fn spawn(mut config: BrokerConfig) -> Result<BrokerHandle> {
    let bound = bind(&config).await?;
    // Advertise what was bound (port 0 becomes the real port) unless told otherwise, and let
    // the quorum know its own address.
    if config.advertised_listeners.is_empty() {
        config.advertised_listeners = bound.iter().map(|(l, _)| l.clone()).collect();
    }
    config.listeners = bound.iter().map(|(l, _)| l.clone()).collect();
    let http = match config.http_listener {
        Some(addr) => Some(crate::http::bind(addr).await?),
        None => None,
    };
    let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
    let addrs: Vec<SocketAddr> = bound
        .iter()
        .filter_map(|(_, l)| l.local_addr().ok())
        .collect();
    let broker = Broker::open(config).await?;
    broker.set_bound_listeners(bound.iter().map(|(l, _)| l.clone()).collect());
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(run(broker.clone(), bound, http, async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    let handle = BrokerHandle {
        broker,
        addrs,
        http_addr,
        shutdown: tx,
        task,
    };
    if let Err(e) = handle.broker.wait_ready(READY_TIMEOUT).await {
        let _ = handle.shutdown().await;
        return Err(e);
    }
    Ok(handle)
}

/// Serves `listeners` (as [`bind`] returns them) and, when given, the HTTP endpoint on `http`
/// until `shutdown` completes, then shuts down gracefully.
pub async fn run(
    broker: Arc<Broker>,
    listeners: Vec<(ListenerConfig, TcpListener)>,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // `/readyz`: true once every listener accepts, false again as soon as shutdown begins.
    let ready = Arc::new(AtomicBool::new(false));
    // Dropping the sender (shutdown, or an early error return) stops the endpoint.
    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let http_task = http.map(|listener| {
        tokio::spawn(crate::http::serve(
            listener,
            broker.clone(),
            ready.clone(),
            async move {
                let _ = http_stopped.await;
            },
        ))
    });
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    // Every connection task holds a sender; when all are dropped, recv() returns None.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let limit = broker
        .config
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n)));
    // Two acceptors: SSL listeners ask for client certificates per `ssl.client.auth`;
    // SASL_SSL listeners authenticate with SASL and never do (Kafka's KIP-684 rule).
    let security = &broker.config.security;
    let tls = match &broker.tls {
        Some(cert) => Some((
            crate::security::tls::acceptor(
                cert.clone(),
                security.client_auth,
                security.truststore.as_deref(),
            )?,
            crate::security::tls::acceptor(cert.clone(), ClientAuth::None, None)?,
        )),
        None => None,
    };
    // OAUTHBEARER's keys are loaded before the first connection is accepted.
    let jwks_refresh = match &broker.oauth {
        Some(jwks) => {
            jwks.refresh().await.map_err(|e| {
                Error::InvalidConfig(format!("cannot load the OAUTHBEARER key set: {e}"))
            })?;
            Some(tokio::spawn(jwks.clone().refresh_forever()))
        }
        None => None,
    };
    let mut accept_tasks = Vec::new();
    for (config, listener) in listeners {
        let addr = listener.local_addr().ok();
        let tls = if config.security.tls() {
            let (ssl, sasl_ssl) = tls.clone().ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "listener {} needs TLS but ssl.keystore.location is not set",
                    config.name
                ))
            })?;
            Some(if config.security.sasl() {
                sasl_ssl
            } else {
                ssl
            })
        } else {
            None
        };
        if let Some(addr) = addr {
            tracing::info!(%addr, listener = %config.name, security = %config.security, "listening");
        }
        accept_tasks.push(tokio::spawn(accept_loop(
            broker.clone(),
            listener,
            ListenerRuntime { config, tls },
            limit.clone(),
            notify_shutdown.clone(),
            done_tx.clone(),
        )));
    }
    let housekeeping = tokio::spawn(housekeeping(broker.clone()));
    let cleaner_cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cleaner = broker
        .config
        .cleaner
        .enable
        .then(|| tokio::spawn(log_cleaner(broker.clone(), cleaner_cancel.clone())));
    let usage = tokio::spawn(write_usage_periodically(broker.clone()));
    let ready_flag = ready.clone();
    let lifecycle_broker = broker.clone();
    // `/readyz` turns 200 once the broker has joined its cluster.
    let readiness = tokio::spawn(async move {
        let mut rx = lifecycle_broker.lifecycle.subscribe();
        let _ = rx
            .wait_for(|s| *s == crate::broker::Lifecycle::Running)
            .await;
        ready_flag.store(true, Ordering::Release);
    });
    shutdown.await;
    readiness.abort();
    ready.store(false, Ordering::Release);
    // Leadership moves to other replicas first (controlled shutdown), while this broker
    // still serves the followers that take over.
    broker.stop().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    for t in &accept_tasks {
        t.abort();
    }
    for t in accept_tasks {
        let _ = t.await;
    }
    let _ = notify_shutdown.send(());
    drop(done_tx);
    let _ = done_rx.recv().await;
    housekeeping.abort();
    cleaner_cancel.store(true, Ordering::Relaxed);
    if let Some(task) = cleaner {
        let _ = task.await;
    }
    if let Some(task) = jwks_refresh {
        task.abort();
    }
    // The partial window, so a restart loses no usage (and, continuing from it, repeats none).
    usage.abort();
    let _ = usage.await;
    match tokio::time::timeout(Duration::from_secs(10), broker.write_usage(crate::now_ms())).await {
        Ok(Ok(n)) => tracing::debug!(records = n, "wrote the last usage window"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not write the last usage window"),
        Err(_) => tracing::warn!("writing the last usage window timed out"),
    }
    let b = broker.clone();
    tokio::task::spawn_blocking(move || b.flush_all())
        .await
        .map_err(|e| Error::io("flush task failed", std::io::Error::other(e.to_string())))??;
    drop(stop_http);
    if let Some(mut task) = http_task {
        match tokio::time::timeout(HTTP_DRAIN_TIMEOUT, &mut task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP endpoint failed"),
            Ok(_) => {}
            Err(_) => {
                tracing::warn!("HTTP requests still in flight after shutdown; dropping them");
                task.abort();
            }
        }
    }
    tracing::info!("shutdown complete: logs flushed");
    Ok(())
}

/// What a listener's connections need to know about it.
#[derive(Clone)]
struct ListenerRuntime {
    config: ListenerConfig,
    tls: Option<TlsAcceptor>,
}

async fn accept_loop(
    broker: Arc<Broker>,
    listener: TcpListener,
    runtime: ListenerRuntime,
    limit: Option<Arc<Semaphore>>,
    notify_shutdown: broadcast::Sender<()>,
    done: mpsc::Sender<()>,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => {
                backoff = Duration::from_millis(10);
                s
            }
            Err(e) => {
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        // `max.connections`: a connection beyond it is closed at once rather than left
        // waiting in the accept backlog, so the client fails fast and retries elsewhere.
        let permit = match &limit {
            None => None,
            Some(limit) => match limit.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    tracing::warn!(%peer, listener = %runtime.config.name, limit = broker.config.max_connections, "connection refused: max.connections reached; raise max.connections or close idle clients");
                    broker.metrics.connection_refused(&runtime.config.name);
                    drop(socket);
                    continue;
                }
            },
        };
        let broker = broker.clone();
        let shutdown = notify_shutdown.subscribe();
        let done = done.clone();
        let runtime = runtime.clone();
        let open = broker.metrics.connection_opened(&runtime.config.name);
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let session = Session::new(runtime.config.name.clone(), runtime.config.security);
            match runtime.tls {
                None => serve_connection(broker, socket, session, peer, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await
                    {
                        Ok(Ok(stream)) => {
                            let mut session = session;
                            if certificate_principal(&broker, &stream, &mut session, peer) {
                                serve_connection(broker, stream, session, peer, shutdown).await
                            }
                        }
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(open);
            drop(permit);
            drop(done);
        });
    }
}

/// Sets the principal of an SSL connection from its client certificate; false (and a log
/// line) when the certificate cannot be read or no mapping rule applies to its subject.
fn certificate_principal<S>(
    broker: &Broker,
    stream: &tokio_rustls::server::TlsStream<S>,
    session: &mut Session,
    peer: SocketAddr,
) -> bool {
    let Some(cert) = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    else {
        return true;
    };
    let dn = match crate::security::mtls::subject_dn(cert) {
        Ok(dn) => dn,
        Err(e) => {
            tracing::info!(%peer, error = %e, "unreadable client certificate; closing");
            return false;
        }
    };
    match broker.config.security.principal_mapping.map(&dn) {
        Some(name) => {
            tracing::debug!(%peer, subject = %dn, principal = %name, "client certificate");
            session.set_certificate_principal(name);
            true
        }
        None => {
            tracing::info!(%peer, subject = %dn, "no ssl.principal.mapping.rules rule applies; closing");
            false
        }
    }
}

async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    broker: Arc<Broker>,
    stream: S,
    mut session: Session,
    peer: SocketAddr,
    mut shutdown: broadcast::Receiver<()>,
) {
    let mut conn = Connection::new(stream, broker.config.socket_request_max_bytes);
    tracing::debug!(%peer, "connection opened");
    loop {
        let frame = tokio::select! {
            frame = conn.read_frame() => frame,
            _ = shutdown.recv() => break,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                break;
            }
        };
        let handled = match router::handle_frame(&broker, &mut session, peer, frame).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection after a malformed request");
                break;
            }
        };
        match handled.reply {
            Reply::Frame(bytes) => {
                if let Err(e) = conn.write_frame(&bytes).await {
                    tracing::debug!(%peer, error = %e, "client went away");
                    break;
                }
            }
            Reply::FrameThenClose(bytes) => {
                let _ = conn.write_frame(&bytes).await;
                conn.shutdown().await;
                break;
            }
            Reply::Close => break,
            Reply::Nothing => {}
        }
        // KIP-219: a client over its quota is muted (nothing more is read from it) for the
        // throttle time its response announced.
        if !handled.throttle.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(handled.throttle) => {}
                _ = shutdown.recv() => break,
            }
        }
    }
    tracing::debug!(%peer, "connection closed");
}

/// Appends a usage window to `__fjord_usage` at every multiple of `fjord.usage.interval.ms`.
async fn write_usage_periodically(broker: Arc<Broker>) {
    let interval = broker.config.usage_interval_ms.max(1) as i64;
    loop {
        let now = crate::now_ms();
        let next = (now / interval + 1) * interval;
        tokio::time::sleep(Duration::from_millis((next - now).max(1) as u64)).await;
        match broker.write_usage(crate::now_ms()).await {
            Ok(n) => tracing::debug!(records = n, "usage window written"),
            Err(e) => {
                tracing::warn!(error = %e, "could not write usage; the window is sent again next time")
            }
        }
    }
}

/// The log cleaner: a pass over the compacted partitions, then `log.cleaner.backoff.ms` of
/// rest when the pass found nothing to do. Runs on a blocking thread; returns when `cancel`
/// is set (shutdown), abandoning a cleaning in progress (its files are removed at next start).
async fn log_cleaner(broker: Arc<Broker>, cancel: Arc<std::sync::atomic::AtomicBool>) {
    let backoff = Duration::from_millis(broker.config.cleaner.backoff_ms.max(10));
    while !cancel.load(Ordering::Relaxed) {
        let b = broker.clone();
        let c = cancel.clone();
        let cleaned = tokio::task::spawn_blocking(move || b.run_cleaner(&c))
            .await
            .unwrap_or(0);
        if cleaned == 0 {
            let mut waited = Duration::ZERO;
            while waited < backoff && !cancel.load(Ordering::Relaxed) {
                let step = Duration::from_millis(100).min(backoff - waited);
                tokio::time::sleep(step).await;
                waited += step;
            }
        }
    }
}

async fn housekeeping(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_every = broker.config.retention_check_interval_ms.max(1) as i64;
    let mut last_retention = crate::now_ms();
    let mut last_logs = crate::now_ms();
    loop {
        tick.tick().await;
        let now = crate::now_ms();
        broker.groups.tick(now);
        if now - last_logs >= 1000 {
            broker.quotas.expire_idle();
            broker.txn_tick(now);
            let retention = now - last_retention >= retention_every;
            if retention {
                last_retention = now;
            }
            last_logs = now;
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.run_housekeeping(now, retention)).await;
        }
    }
}
