//! The traffic of the test bed: TCP servers and clients written with plain sockets, so that the
//! kernel's own TCP stack produces every segment (handshakes, delayed ACKs, retransmissions,
//! keep-alives, RSTs) exactly as it would for a real application.
//!
//! Everything here runs in the *current* network namespace of the calling thread:
//! [`super::in_ns`] moves a thread into a test namespace first, and the hidden subcommand
//! `cargo xtask peer server|client ...` (see [`main`]) runs the same code under
//! `ip netns exec NS` for manual experiments.
//!
//! Ports of the server ([`Server::start`]), one behaviour each:
//!
//! | port | behaviour |
//! |---|---|
//! | 8080 | HTTP/1.0: reads one request (headers + `Content-Length` body), answers, closes first |
//! | 9001, 9005, 9006 | echo until the client's EOF, then close (client closes first); 9005/9006 are the targets of drop rules |
//! | 9002 | hold: reads `N\n`, sleeps N seconds, answers `done\n`, waits for the client to close |
//! | 9003 | abort: reads, answers `bye\n`, after 0.2 s closes with SO_LINGER 0 (RST) |
//! | 9004 | greets and closes first (client ACKs the FIN separately, then closes) |
//! | 9010 | sink: reads to EOF, answers `ok N\n`, closes |
//! | 9009 | nothing listens (connection refused) |

use anyhow::{Context, Result, bail};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PORT_HTTP: u16 = 8080;
pub const PORT_ECHO: u16 = 9001;
pub const PORT_HOLD: u16 = 9002;
pub const PORT_ABORT: u16 = 9003;
pub const PORT_SERVER_CLOSE: u16 = 9004;
pub const PORT_ECHO_DROP_FAST: u16 = 9005;
pub const PORT_ECHO_DROP_SLOW: u16 = 9006;
pub const PORT_CLOSED: u16 = 9009;
pub const PORT_SINK: u16 = 9010;

/// Every handler gives up after this much silence, so that no thread (and no socket keeping a
/// deleted namespace alive) outlives a test by long, whatever the peer does.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The body served for `GET`.
const HTTP_BODY: &[u8] = b"hello from the miruo test bed\n";

// ---------------------------------------------------------------------------------------------
// Server

type Handler = fn(&TcpStream) -> std::io::Result<()>;
/// Open connections: a weak handle on the stream (to shut it down at the end without keeping
/// it open: a dup'ed fd would delay the handler's close, and so its FIN) and its thread.
type Conns = Mutex<Vec<(Weak<TcpStream>, JoinHandle<()>)>>;

/// All listeners of the table above, on one accept thread; one thread per connection.
/// Dropping it stops accepting, shuts the open connections down and joins every thread.
pub struct Server {
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    conns: Arc<Conns>,
    accepted: Arc<AtomicU64>,
}

impl Server {
    /// Binds every port on `bind` (`::` accepts IPv4 and IPv6: the namespace keeps the default
    /// `bindv6only=0`) and starts accepting.
    pub fn start(bind: IpAddr) -> Result<Server> {
        let handlers: [(u16, Handler); 8] = [
            (PORT_HTTP, serve_http),
            (PORT_ECHO, serve_echo),
            (PORT_HOLD, serve_hold),
            (PORT_ABORT, serve_abort),
            (PORT_SERVER_CLOSE, serve_server_close),
            (PORT_ECHO_DROP_FAST, serve_echo),
            (PORT_ECHO_DROP_SLOW, serve_echo),
            (PORT_SINK, serve_sink),
        ];
        let mut listeners = Vec::new();
        for (port, handler) in handlers {
            let addr = SocketAddr::new(bind, port);
            let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
            l.set_nonblocking(true)?;
            listeners.push((l, handler));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Conns> = Arc::default();
        let accepted = Arc::new(AtomicU64::new(0));
        let (stop2, conns2, accepted2) = (stop.clone(), conns.clone(), accepted.clone());
        let accept_thread = std::thread::Builder::new()
            .name("testbed-accept".into())
            .spawn(move || accept_loop(listeners, &stop2, &conns2, &accepted2))?;
        Ok(Server {
            stop,
            accept_thread: Some(accept_thread),
            conns,
            accepted,
        })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for (stream, _) in &conns {
            if let Some(s) = stream.upgrade() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        for (_, t) in conns {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listeners: Vec<(TcpListener, Handler)>,
    stop: &AtomicBool,
    conns: &Conns,
    accepted: &AtomicU64,
) {
    let mut pfds: Vec<libc::pollfd> = listeners
        .iter()
        .map(|(l, _)| libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        // 100 ms: how long Drop may wait for this thread.
        // SAFETY: pfds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        for (i, (l, handler)) in listeners.iter().enumerate() {
            if pfds[i].revents == 0 {
                continue;
            }
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(IO_TIMEOUT));
                        let _ = s.set_write_timeout(Some(IO_TIMEOUT));
                        let s = Arc::new(s);
                        let weak = Arc::downgrade(&s);
                        let handler = *handler;
                        let Ok(t) = std::thread::Builder::new()
                            .name("testbed-conn".into())
                            .spawn(move || {
                                let _ = handler(&s);
                                // Dropping the last strong handle closes the socket (FIN, or
                                // RST after SO_LINGER 0).
                                drop(s);
                            })
                        else {
                            continue;
                        };
                        let mut c = conns.lock().unwrap_or_else(|e| e.into_inner());
                        // Forget finished connections so a churn run does not pile up handles.
                        if c.len() > 256 {
                            c.retain(|(_, t)| !t.is_finished());
                        }
                        c.push((weak, t));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
    }
}

/// Reads until the peer's EOF (or an error), returning the byte count.
fn drain(mut s: impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += k as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads one line (up to `\n`, at most 256 bytes).
fn read_line(mut s: impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 256 {
        if s.read(&mut b)? == 0 {
            break;
        }
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&line).trim().to_string())
}

fn serve_echo(mut s: &TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn serve_hold(mut s: &TcpStream) -> std::io::Result<()> {
    let secs: f64 = read_line(s)?.parse().unwrap_or(0.0);
    std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 10.0)));
    s.write_all(b"done\n")?;
    drain(s)?;
    Ok(())
}

fn serve_abort(mut s: &TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 100];
    let _ = s.read(&mut buf)?;
    s.write_all(b"bye\n")?;
    std::thread::sleep(Duration::from_millis(200));
    set_linger_zero(s.as_raw_fd())?;
    Ok(()) // the caller drops the stream: with linger 0 its close sends RST
}

fn serve_server_close(mut s: &TcpStream) -> std::io::Result<()> {
    s.write_all(b"greeting\n")?;
    std::thread::sleep(Duration::from_millis(100));
    Ok(())
}

fn serve_sink(mut s: &TcpStream) -> std::io::Result<()> {
    let n = drain(s)?;
    s.write_all(format!("ok {n}\n").as_bytes())?;
    Ok(())
}

/// HTTP/1.0 without keep-alive: the server closes after the response, as old servers do.
fn serve_http(mut s: &TcpStream) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
        if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if req.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&req[..head_end]).to_string();
    let content_length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut have = req.len() - head_end;
    while have < content_length {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let method = head.split_whitespace().next().unwrap_or("");
    let (status, body): (&str, &[u8]) = match method {
        "GET" | "HEAD" => ("200 OK", HTTP_BODY),
        "POST" => ("201 Created", b"created\n"),
        _ => ("501 Not Implemented", b"not implemented\n"),
    };
    let mut resp = format!(
        "HTTP/1.0 {status}\r\nServer: miruo-testbed\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(body);
    }
    s.write_all(&resp)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Socket options std does not offer

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> std::io::Result<()> {
    // SAFETY: val points to a live T and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// SO_LINGER {on, 0}: close() then aborts the connection with a RST.
fn set_linger_zero(fd: RawFd) -> std::io::Result<()> {
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    )
}

/// Options applied to a client socket before `connect`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectOpts {
    /// IP_MTU_DISCOVER = IP_PMTUDISC_DONT: clear DF so routers fragment (IPv4 only).
    pub no_df: bool,
    /// SO_KEEPALIVE with TCP_KEEPIDLE = TCP_KEEPINTVL = this many seconds.
    pub keepalive_secs: Option<u32>,
    /// TCP_NODELAY, so every write is its own segment.
    pub nodelay: bool,
}

/// `connect` with options that must be set on the socket first.
pub fn connect(addr: SocketAddr, opts: ConnectOpts) -> Result<TcpStream> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned by the TcpStream right below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        bail!("socket(): {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns; the stream closes it on every path.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if opts.no_df && addr.is_ipv4() {
        setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            &libc::IP_PMTUDISC_DONT,
        )
        .context("IP_MTU_DISCOVER")?;
    }
    if let Some(secs) = opts.keepalive_secs {
        let secs = secs as libc::c_int;
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1 as &libc::c_int)
            .context("SO_KEEPALIVE")?;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, &secs).context("TCP_KEEPIDLE")?;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, &secs).context("TCP_KEEPINTVL")?;
    }
    if opts.nodelay {
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &1 as &libc::c_int)
            .context("TCP_NODELAY")?;
    }
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of length len.
    let rc = unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(anyhow::Error::new(e).context(format!("connect to {addr}")));
    }
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

// ---------------------------------------------------------------------------------------------
// Clients: one function per scenario; `host` is the server's address.

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn read_all(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)?;
    Ok(v)
}

fn read_some(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf)?;
    Ok(buf[..n].to_vec())
}

/// Echo, client closes first: `FIN_WAIT1 >-A---F> ESTABLISHED` ... `TIME_WAIT >-A----> CLOSED`.
pub fn client_echo(host: IpAddr, port: u16) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, port), ConnectOpts::default())?;
    s.write_all(b"hello miruo\n")?;
    let got = read_some(&mut s)?;
    if got.is_empty() {
        bail!("echo on port {port}: connection closed without an answer");
    }
    sleep_ms(100);
    drop(s);
    sleep_ms(300);
    Ok(())
}

/// Three HTTP/1.0 requests, each on its own connection which the server closes first:
/// a GET with a query string and a Referer, a POST with a form body, a HEAD.
pub fn client_http(host: IpAddr) -> Result<()> {
    let hostport = SocketAddr::new(host, PORT_HTTP);
    let reqs = [
        "GET /index.html?q=miruo&lang=en HTTP/1.0\r\nHost: test.invalid\r\nUser-Agent: miruo-testbed/1.0\r\nReferer: http://example.com/from?secret=1\r\nAccept: */*\r\n\r\n".to_string(),
        "POST /form HTTP/1.0\r\nHost: test.invalid\r\nUser-Agent: miruo-testbed/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nname=miruo\n".to_string(),
        "HEAD /index.html HTTP/1.0\r\nHost: test.invalid\r\nUser-Agent: miruo-testbed/1.0\r\n\r\n".to_string(),
    ];
    for req in reqs {
        let mut s = connect(hostport, ConnectOpts::default())?;
        s.write_all(req.as_bytes())?;
        let resp = read_all(&mut s)?;
        if !resp.starts_with(b"HTTP/1.0 2") {
            bail!(
                "http: unexpected answer {:?}",
                String::from_utf8_lossy(&resp)
            );
        }
        drop(s);
        sleep_ms(200);
    }
    Ok(())
}

/// The server aborts an established session with RST (SO_LINGER 0) 0.2 s after answering.
pub fn client_rst_abort(host: IpAddr) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_ABORT), ConnectOpts::default())?;
    s.write_all(b"hi\n")?;
    let _ = read_some(&mut s)?;
    sleep_ms(500);
    // The server's RST makes this read fail (ECONNRESET): that is the point.
    let _ = read_some(&mut s);
    Ok(())
}

/// SYN to a port where nothing listens: RST/ACK, ECONNREFUSED.
pub fn client_refused(host: IpAddr) -> Result<()> {
    match connect(SocketAddr::new(host, PORT_CLOSED), ConnectOpts::default()) {
        Ok(_) => bail!("port {PORT_CLOSED} unexpectedly accepted a connection"),
        Err(e) => {
            let refused = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == ErrorKind::ConnectionRefused);
            if !refused {
                return Err(e.context("expected 'connection refused'"));
            }
        }
    }
    sleep_ms(200);
    Ok(())
}

/// The server sends a greeting and closes first; the client's kernel ACKs the FIN at once and
/// the client closes 0.1 s later (separate ACK, the CLOSE_WAIT path).
pub fn client_server_close(host: IpAddr) -> Result<()> {
    let mut s = connect(
        SocketAddr::new(host, PORT_SERVER_CLOSE),
        ConnectOpts::default(),
    )?;
    let _ = read_all(&mut s)?;
    sleep_ms(100);
    drop(s);
    sleep_ms(300);
    Ok(())
}

/// The server sends a greeting and closes first; the client ACKs the FIN, then aborts with RST
/// (SO_LINGER 0) instead of closing: a "close-phase" RST.
pub fn client_rst_after_fin(host: IpAddr) -> Result<()> {
    let mut s = connect(
        SocketAddr::new(host, PORT_SERVER_CLOSE),
        ConnectOpts::default(),
    )?;
    let _ = read_all(&mut s)?;
    sleep_ms(100);
    set_linger_zero(s.as_raw_fd())?;
    drop(s);
    sleep_ms(300);
    Ok(())
}

/// A connection held open `secs` seconds by the server before it answers.
pub fn client_hold(host: IpAddr, secs: f64, opts: ConnectOpts) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_HOLD), opts)?;
    s.write_all(format!("{secs}\n").as_bytes())?;
    let got = read_some(&mut s)?;
    if got != b"done\n" {
        bail!(
            "hold: unexpected answer {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    drop(s);
    sleep_ms(300);
    Ok(())
}

/// Echo with long silent gaps between the exchanges (1.5 s, then 2.5 s).
pub fn client_gaps(host: IpAddr) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_ECHO), ConnectOpts::default())?;
    for (msg, pause_ms) in [
        (&b"first\n"[..], 1500),
        (b"second\n", 2500),
        (b"third\n", 0),
    ] {
        s.write_all(msg)?;
        let _ = read_some(&mut s)?;
        sleep_ms(pause_ms);
    }
    drop(s);
    sleep_ms(300);
    Ok(())
}

/// Sends `bytes` to the sink, half-closes, reads the `ok N` answer.
pub fn client_bulk(host: IpAddr, bytes: usize, opts: ConnectOpts) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_SINK), opts)?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n])?;
        left -= n;
    }
    s.shutdown(std::net::Shutdown::Write)?;
    let answer = read_all(&mut s)?;
    let want = format!("ok {bytes}\n");
    if answer != want.as_bytes() {
        bail!(
            "sink answered {:?}, expected {want:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    drop(s);
    Ok(())
}

/// What [`client_churn`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChurnReport {
    pub short_connections: u64,
    pub refused: u64,
    pub bulk_bytes: u64,
    pub errors: u64,
}

/// Many short connections (echo with client close, HTTP with server close, one refused SYN in
/// 16) on `workers` threads, while `bulk_count` bulk uploads of `bulk_bytes` run alongside.
/// Stops after `short` short connections or `max_time`, whichever comes first.
pub fn client_churn(
    host: IpAddr,
    short: u64,
    workers: u64,
    bulk_count: u64,
    bulk_bytes: usize,
    max_time: Duration,
) -> Result<ChurnReport> {
    let deadline = Instant::now() + max_time;
    let next = Arc::new(AtomicU64::new(0));
    let report = Arc::new(Mutex::new(ChurnReport::default()));
    std::thread::scope(|scope| {
        for _ in 0..bulk_count {
            let report = report.clone();
            scope.spawn(move || {
                let r = client_bulk(host, bulk_bytes, ConnectOpts::default());
                let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(()) => rep.bulk_bytes += bulk_bytes as u64,
                    Err(_) => rep.errors += 1,
                }
            });
        }
        for _ in 0..workers.max(1) {
            let (next, report) = (next.clone(), report.clone());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= short || Instant::now() > deadline {
                        return;
                    }
                    let (r, refused) = match i % 16 {
                        15 => (churn_refused(host), true),
                        k if k % 2 == 0 => (churn_echo(host), false),
                        _ => (churn_http(host), false),
                    };
                    let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                    match (r, refused) {
                        (Ok(()), false) => rep.short_connections += 1,
                        (Ok(()), true) => rep.refused += 1,
                        (Err(_), _) => rep.errors += 1,
                    }
                }
            });
        }
    });
    let rep = *report.lock().unwrap_or_else(|e| e.into_inner());
    Ok(rep)
}

fn churn_echo(host: IpAddr) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_ECHO), ConnectOpts::default())?;
    s.write_all(b"ping\n")?;
    let _ = read_some(&mut s)?;
    Ok(())
}

fn churn_http(host: IpAddr) -> Result<()> {
    let mut s = connect(SocketAddr::new(host, PORT_HTTP), ConnectOpts::default())?;
    s.write_all(b"GET /churn?x=1 HTTP/1.0\r\nHost: test.invalid\r\n\r\n")?;
    let _ = read_all(&mut s)?;
    Ok(())
}

fn churn_refused(host: IpAddr) -> Result<()> {
    match connect(SocketAddr::new(host, PORT_CLOSED), ConnectOpts::default()) {
        Ok(_) => bail!("closed port accepted"),
        Err(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// `cargo xtask peer ...`

const PEER_USAGE: &str = "usage (hidden helper, run it inside a namespace with `ip netns exec NS`):
  cargo xtask peer server [--bind ADDR]          serve every test port until killed (default ::)
  cargo xtask peer client SCENARIO --host ADDR    run one client scenario against ADDR
scenarios: echo, http, rst-abort, refused, server-close, rst-after-fin, hold, gaps, echo-port PORT,
           bulk BYTES [--no-df], keepalive, churn SHORT";

/// Entry point of the hidden `peer` subcommand.
pub fn main(args: &[String]) -> Result<()> {
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    match args.first().map(String::as_str) {
        Some("server") => {
            let bind: IpAddr = match opt("--bind") {
                Some(a) => a
                    .parse()
                    .with_context(|| format!("--bind: bad address '{a}'"))?,
                None => IpAddr::from([0u16; 8]),
            };
            let _server = Server::start(bind)?;
            println!("serving on {bind}");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Some("client") => {
            let scenario = args.get(1).map(String::as_str).unwrap_or("");
            let host: IpAddr = opt("--host")
                .context("client: --host ADDR is required")?
                .parse()
                .context("--host: bad address")?;
            let num = |i: usize| -> Result<u64> {
                args.get(i)
                    .with_context(|| format!("{scenario}: missing number"))?
                    .parse()
                    .context("bad number")
            };
            match scenario {
                "echo" => client_echo(host, PORT_ECHO),
                "http" => client_http(host),
                "rst-abort" => client_rst_abort(host),
                "refused" => client_refused(host),
                "server-close" => client_server_close(host),
                "rst-after-fin" => client_rst_after_fin(host),
                "hold" => client_hold(host, 3.0, ConnectOpts::default()),
                "gaps" => client_gaps(host),
                "echo-port" => client_echo(host, num(2)?.try_into().context("bad port")?),
                "bulk" => {
                    let opts = ConnectOpts {
                        no_df: args.iter().any(|a| a == "--no-df"),
                        ..Default::default()
                    };
                    client_bulk(host, num(2)? as usize, opts)
                }
                "keepalive" => client_hold(
                    host,
                    4.0,
                    ConnectOpts {
                        keepalive_secs: Some(1),
                        ..Default::default()
                    },
                ),
                "churn" => {
                    let r = client_churn(host, num(2)?, 4, 2, 32 << 20, Duration::from_secs(120))?;
                    println!("{r:?}");
                    Ok(())
                }
                _ => bail!("unknown client scenario '{scenario}'\n{PEER_USAGE}"),
            }
        }
        _ => bail!("{PEER_USAGE}"),
    }
}
