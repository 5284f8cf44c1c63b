//! Network-namespace test bed: real kernel TCP traffic between namespaces made for the purpose.
//!
//! This module owns everything a test needs to create and tear down such a network, and is used
//! by `cargo xtask gen-testdata` ([`crate::testdata`]), by xtask's own tests and, through a
//! dev-dependency on `xtask`, by miruo's live-capture tests:
//!
//! * [`TestNet`]: a guard that creates the namespaces `client`, `server` and optionally `router`
//!   (names made unique with the pid: `miruo-tb-PID-N-client`...), the veth pairs between them
//!   (created directly inside the namespaces, so nothing ever appears in the host namespace),
//!   addresses from 198.18.0.0/15 and fd00::/8, `lo` up, no default route, offloads optionally
//!   off. Dropping it deletes the namespaces, which removes their veths, routes and nft tables.
//! * [`ChildGuard`], [`spawn_in`], [`run_in`], [`command_in`]: processes inside a namespace,
//!   stopped by PID (SIGKILL on drop if still running).
//! * [`in_ns`]: run a closure on a thread that has entered a namespace (`setns`), which is how
//!   the traffic of [`peer`] runs: it works from any binary, not only from xtask.
//! * [`TestNet::nft_drop`]: packet loss with nftables (`numgen` rules; netem is not available).
//! * [`scenario`]: the named traffic scenarios that `gen-testdata` records.
//!
//! Topology (`r` = router namespace, only with [`NetConfig::router`]):
//!
//! ```text
//! direct:  client [veth-c 198.18.0.1 fd00:6d72::1] ==== [veth-s 198.18.0.2 fd00:6d72::2] server
//! router:  client [veth-c 198.18.0.1 fd00:6d72::1] ==== [veth-rc 198.18.0.254 fd00:6d72::fe] r
//!          r [veth-rs 198.18.1.254 fd00:6d72:1::fe, MTU 800] ==== [veth-s 198.18.1.2 fd00:6d72:1::2] server
//! ```
//!
//! The router's server-side link has a small MTU while the server keeps 1500 (so it advertises
//! MSS 1460): IPv4 segments sent without DF are fragmented by the router on `veth-rs`.

pub mod peer;
pub mod scenario;

use anyhow::{Context, Result, anyhow, bail};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Prefix of every namespace the test bed creates; followed by `PID-N-ROLE`.
pub const NS_PREFIX: &str = "miruo-tb-";
/// The nft table the drop helpers create (inside a namespace; it goes away with it).
pub const NFT_TABLE: &str = "miruo_testbed";
/// The client's interface (in the client namespace).
pub const IFACE_CLIENT: &str = "veth-c";
/// The server's interface (in the server namespace).
pub const IFACE_SERVER: &str = "veth-s";
/// The router's interface towards the client.
pub const IFACE_ROUTER_CLIENT: &str = "veth-rc";
/// The router's small-MTU interface towards the server (where fragments are seen).
pub const IFACE_ROUTER_SERVER: &str = "veth-rs";

/// Where `ip netns` keeps its namespace handles.
const NETNS_DIR: &str = "/run/netns";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What [`TestNet::new`] builds.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Put a router namespace between client and server.
    pub router: bool,
    /// MTU of the router's link towards the server (only with `router`).
    pub router_mtu: u32,
    /// Turn TSO, GSO and GRO off on every veth, so each captured packet is one real segment
    /// instead of a 64 KiB super-packet (what a physical NIC's wire would carry).
    pub offloads_off: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            router: false,
            router_mtu: 800,
            offloads_off: true,
        }
    }
}

impl NetConfig {
    /// Client and server on one veth pair, offloads off.
    pub fn direct() -> Self {
        Self::default()
    }

    /// Client, router (MTU 800 towards the server) and server, offloads off.
    pub fn with_router() -> Self {
        NetConfig {
            router: true,
            ..Self::default()
        }
    }
}

/// One end host of a [`TestNet`].
#[derive(Clone, Debug)]
pub struct Host {
    /// Namespace name (for `ip netns exec`, [`spawn_in`], [`in_ns`]).
    pub ns: String,
    /// Its only interface besides `lo` (attach capture tools here).
    pub iface: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

/// The router namespace of a [`TestNet`] built with [`NetConfig::router`].
#[derive(Clone, Debug)]
pub struct Router {
    pub ns: String,
    /// Interface towards the client (MTU 1500).
    pub iface_client: String,
    /// Interface towards the server (small MTU: fragments leave through it).
    pub iface_server: String,
    pub mtu: u32,
}

/// A nftables hook for [`TestNet::nft_drop`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Packets addressed to this namespace (drops on the receiving host).
    Input,
    /// Packets this namespace sends.
    Output,
    /// Packets a router forwards.
    Forward,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Output => "output",
            Hook::Forward => "forward",
        }
    }
}

/// The guard of a test network. See the module documentation for the topology.
#[derive(Debug)]
pub struct TestNet {
    pub client: Host,
    pub server: Host,
    pub router: Option<Router>,
    /// Every namespace created so far, in creation order (deleted in reverse by Drop).
    namespaces: Vec<String>,
}

impl TestNet {
    /// Creates the namespaces, links, addresses and routes. Needs root and `ip`, `ethtool`
    /// (with `offloads_off`). On failure everything created so far is removed again.
    pub fn new(cfg: NetConfig) -> Result<TestNet> {
        require_root("the network test bed")?;
        let mut tools = vec!["ip"];
        if cfg.offloads_off {
            tools.push("ethtool");
        }
        require_tools(&tools)?;
        // Namespaces of earlier runs killed before their Drop ran would otherwise pile up.
        let _ = cleanup_stale();

        let id = format!(
            "{NS_PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let v4 = |c: u8, d: u8| Ipv4Addr::new(198, 18, c, d);
        let v6 = |net: u16, host: u16| Ipv6Addr::new(0xfd00, 0x6d72, net, 0, 0, 0, 0, host);
        let server_net: u8 = if cfg.router { 1 } else { 0 };
        let mut net = TestNet {
            client: Host {
                ns: format!("{id}-client"),
                iface: IFACE_CLIENT.into(),
                ipv4: v4(0, 1),
                ipv6: v6(0, 1),
            },
            server: Host {
                ns: format!("{id}-server"),
                iface: IFACE_SERVER.into(),
                ipv4: v4(server_net, 2),
                ipv6: v6(server_net.into(), 2),
            },
            router: cfg.router.then(|| Router {
                ns: format!("{id}-router"),
                iface_client: IFACE_ROUTER_CLIENT.into(),
                iface_server: IFACE_ROUTER_SERVER.into(),
                mtu: cfg.router_mtu,
            }),
            namespaces: Vec::new(),
        };
        // Drop cleans up whatever exists if any step below fails.
        net.build(&cfg, v4, v6)?;
        Ok(net)
    }

    fn build(
        &mut self,
        cfg: &NetConfig,
        v4: impl Fn(u8, u8) -> Ipv4Addr,
        v6: impl Fn(u16, u16) -> Ipv6Addr,
    ) -> Result<()> {
        let (c, s) = (self.client.clone(), self.server.clone());
        let mut all = vec![c.ns.clone(), s.ns.clone()];
        if let Some(r) = &self.router {
            all.push(r.ns.clone());
        }
        for ns in &all {
            run(Command::new("ip").args(["netns", "add", ns]))?;
            self.namespaces.push(ns.clone());
            ip(ns, &["link", "set", "lo", "up"])?;
            // Keep ICMPv6 chatter out of the captures: no link-local addresses (so no DAD
            // probes; neighbour discovery uses the global fd00:: addresses), no router
            // solicitations, and the unsolicited MLD reports all sent at once at link-up,
            // before any capture starts, instead of repeated over the next seconds.
            for (key, value) in [
                ("addr_gen_mode", "1"),
                ("router_solicitations", "0"),
                ("mldv2_unsolicited_report_interval", "0"),
                ("mldv1_unsolicited_report_interval", "0"),
            ] {
                sysctl(ns, &format!("net.ipv6.conf.default.{key}"), value)?;
                sysctl(ns, &format!("net.ipv6.conf.all.{key}"), value)?;
            }
        }
        match self.router.clone() {
            None => {
                veth_pair(&c.ns, &c.iface, &s.ns, &s.iface)?;
                self.host_addrs(&c, 24, 64)?;
                self.host_addrs(&s, 24, 64)?;
            }
            Some(r) => {
                veth_pair(&c.ns, &c.iface, &r.ns, &r.iface_client)?;
                veth_pair(&r.ns, &r.iface_server, &s.ns, &s.iface)?;
                self.host_addrs(&c, 24, 64)?;
                self.host_addrs(&s, 24, 64)?;
                addr(&r.ns, &r.iface_client, v4(0, 254).into(), 24)?;
                addr(&r.ns, &r.iface_client, v6(0, 0xfe).into(), 64)?;
                addr(&r.ns, &r.iface_server, v4(1, 254).into(), 24)?;
                addr(&r.ns, &r.iface_server, v6(1, 0xfe).into(), 64)?;
                ip(
                    &r.ns,
                    &["link", "set", &r.iface_server, "mtu", &r.mtu.to_string()],
                )?;
                ip(&r.ns, &["link", "set", &r.iface_client, "up"])?;
                ip(&r.ns, &["link", "set", &r.iface_server, "up"])?;
                sysctl(&r.ns, "net.ipv4.ip_forward", "1")?;
                sysctl(&r.ns, "net.ipv6.conf.all.forwarding", "1")?;
                // Only routes to the test networks themselves: nothing leads out of the bed.
                ip(
                    &c.ns,
                    &["route", "add", "198.18.1.0/24", "via", "198.18.0.254"],
                )?;
                ip(
                    &c.ns,
                    &[
                        "-6",
                        "route",
                        "add",
                        "fd00:6d72:1::/64",
                        "via",
                        "fd00:6d72::fe",
                    ],
                )?;
                ip(
                    &s.ns,
                    &["route", "add", "198.18.0.0/24", "via", "198.18.1.254"],
                )?;
                ip(
                    &s.ns,
                    &[
                        "-6",
                        "route",
                        "add",
                        "fd00:6d72::/64",
                        "via",
                        "fd00:6d72:1::fe",
                    ],
                )?;
            }
        }
        if cfg.offloads_off {
            for (ns, iface) in self.interfaces() {
                run_in(
                    &ns,
                    &[
                        "ethtool", "-K", &iface, "tso", "off", "gso", "off", "gro", "off",
                    ],
                )
                .with_context(|| format!("turning offloads off on {iface} in {ns}"))?;
            }
        }
        self.wait_until_up(Duration::from_secs(5))
    }

    /// Waits until every veth reports operstate UP. The kernel's link watch raises the carrier
    /// up to a second after `ip link set up`; traffic sent before that is lost (an IPv6
    /// neighbour solicitation then costs its 1 s retry), and the MLD reports that follow the
    /// carrier would land in a capture that started too early.
    fn wait_until_up(&self, timeout: Duration) -> Result<()> {
        let end = Instant::now() + timeout;
        for (ns, iface) in self.interfaces() {
            loop {
                let out = Command::new("ip")
                    .args(["-n", &ns, "-o", "link", "show", "dev", &iface])
                    .output()?;
                if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                    break;
                }
                if Instant::now() > end {
                    bail!("{iface} in {ns} is not up after {timeout:?}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The MLD reports leave right after the carrier comes up.
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    }

    fn host_addrs(&self, h: &Host, p4: u8, p6: u8) -> Result<()> {
        addr(&h.ns, &h.iface, h.ipv4.into(), p4)?;
        addr(&h.ns, &h.iface, h.ipv6.into(), p6)?;
        ip(&h.ns, &["link", "set", &h.iface, "up"])
    }

    /// Every (namespace, interface) pair of the bed except `lo`.
    pub fn interfaces(&self) -> Vec<(String, String)> {
        let mut v = vec![
            (self.client.ns.clone(), self.client.iface.clone()),
            (self.server.ns.clone(), self.server.iface.clone()),
        ];
        if let Some(r) = &self.router {
            v.push((r.ns.clone(), r.iface_client.clone()));
            v.push((r.ns.clone(), r.iface_server.clone()));
        }
        v
    }

    /// The names of the namespaces this guard created (and will delete).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Adds `add rule inet miruo_testbed HOOK MATCH drop` in namespace `ns`, creating the table
    /// and the base chain on first use. Example, dropping 3 of every 4 data segments to port
    /// 9005: `net.nft_drop(&net.server.ns, Hook::Input, "tcp dport 9005 ip length > 60 numgen inc mod 4 < 3")`.
    pub fn nft_drop(&self, ns: &str, hook: Hook, matches: &str) -> Result<()> {
        let h = hook.name();
        self.nft(
            ns,
            &format!(
                "add table inet {NFT_TABLE}\n\
                 add chain inet {NFT_TABLE} {h} {{ type filter hook {h} priority 0; policy accept; }}\n\
                 add rule inet {NFT_TABLE} {h} {matches} drop\n"
            ),
        )
    }

    /// Runs an nft script (`nft -f -`) inside `ns`, which must be one of this bed's namespaces.
    pub fn nft(&self, ns: &str, script: &str) -> Result<()> {
        if !self.namespaces.iter().any(|n| n == ns) {
            bail!("nft: '{ns}' is not a namespace of this test bed");
        }
        require_tools(&["nft"])?;
        let mut child = command_in(ns, "nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start nft")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("nft in {ns} failed: {}", first_line(&out.stderr));
        }
        Ok(())
    }

    /// Starts the servers of [`peer`] in the server namespace, listening on `::` (IPv4 and IPv6).
    pub fn start_server(&self) -> Result<peer::Server> {
        in_ns(&self.server.ns, || {
            peer::Server::start(IpAddr::from(Ipv6Addr::UNSPECIFIED))
        })
    }

    /// Runs `f` on a thread inside the client namespace.
    pub fn in_client<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        in_ns(&self.client.ns, f)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            // Deleting a namespace deletes its interfaces (and so both ends of its veths),
            // routes and nft tables once nothing holds it any more.
            if let Err(e) = run(Command::new("ip").args(["netns", "del", &ns])) {
                eprintln!("testbed: cannot delete namespace {ns}: {e:#}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

fn ip(ns: &str, args: &[&str]) -> Result<()> {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    run(Command::new("ip").args(&full))
}

fn addr(ns: &str, iface: &str, a: IpAddr, prefix: u8) -> Result<()> {
    let cidr = format!("{a}/{prefix}");
    match a {
        // nodad: the address is usable at once instead of after duplicate detection (~1 s).
        IpAddr::V6(_) => ip(ns, &["-6", "addr", "add", &cidr, "dev", iface, "nodad"]),
        IpAddr::V4(_) => ip(ns, &["addr", "add", &cidr, "dev", iface]),
    }
}

fn veth_pair(ns_a: &str, a: &str, ns_b: &str, b: &str) -> Result<()> {
    // Created straight inside the namespaces: the names never exist in the host namespace,
    // so they cannot collide with the machine's interfaces or another test bed's.
    run(Command::new("ip").args([
        "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b,
    ]))
}

fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    // /proc/sys/net shows the namespace of the process reading it, hence `ip netns exec`.
    run_in(ns, &["sysctl", "-q", "-w", &format!("{key}={value}")]).map(|_| ())
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Runs a command to completion; the error names the command and its first stderr line.
fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            cmd_line(cmd),
            out.status,
            first_line(&out.stderr)
        );
    }
    Ok(())
}

fn cmd_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when running as root (the bed needs CAP_NET_ADMIN and CAP_SYS_ADMIN).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// One-line error unless root.
pub fn require_root(what: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} needs root (network namespaces): run it with sudo");
    }
    Ok(())
}

/// Finds a program in PATH or the sbin directories (which a sudo-less PATH may lack).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One-line error naming the first missing tool.
pub fn require_tools(names: &[&str]) -> Result<()> {
    for n in names {
        if find_tool(n).is_none() {
            bail!("{n} not found: run `cargo xtask setup`");
        }
    }
    Ok(())
}

/// True while a namespace of that name exists.
pub fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Deletes test-bed namespaces left by processes that no longer exist (a test killed before its
/// guards ran). Returns how many were removed.
pub fn cleanup_stale() -> Result<usize> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if run(Command::new("ip").args(["netns", "del", &name])).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// `ip netns exec NS PROGRAM`: a Command to complete with args and stdio.
pub fn command_in(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Runs `argv` inside `ns` and returns its stdout; the error has its first stderr line.
pub fn run_in(ns: &str, argv: &[&str]) -> Result<String> {
    let (prog, args) = argv.split_first().context("run_in: empty command")?;
    let mut cmd = command_in(ns, prog);
    cmd.args(args).stdin(Stdio::null());
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {}", cmd_line(&cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            cmd_line(&cmd),
            out.status,
            first_line(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `argv` inside `ns` with stdout and stderr going to a log file
/// ([`ChildGuard::output`]). `ip netns exec` execs the program, so the PID is the program's.
pub fn spawn_in(ns: &str, argv: &[&str]) -> Result<ChildGuard> {
    let (prog, args) = argv.split_first().context("spawn_in: empty command")?;
    if find_tool(prog).is_none() && !prog.contains('/') {
        bail!("{prog} not found: run `cargo xtask setup`");
    }
    let log = std::env::temp_dir().join(format!(
        "miruo-testbed-{}-{}-{}.log",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        Path::new(prog)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let f = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = command_in(ns, prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f);
    let mut g = ChildGuard::spawn(&mut cmd)?;
    g.log = Some(log);
    Ok(g)
}

/// Runs `f` on a new thread that first enters the network namespace `ns` (`setns`); sockets it
/// creates, and threads it spawns, live in that namespace. The caller's thread is not moved.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let path = Path::new(NETNS_DIR).join(ns);
    let file = File::open(&path).with_context(|| format!("no network namespace '{ns}'"))?;
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("in-{ns}"))
            .spawn_scoped(scope, move || -> Result<T> {
                // SAFETY: setns on a valid namespace fd; it only affects this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns({ns}): {}", std::io::Error::last_os_error());
                }
                drop(file);
                f()
            })
            .context("cannot start a thread")?;
        handle
            .join()
            .map_err(|_| anyhow!("the thread running in namespace {ns} panicked"))?
    })
}

/// A child process, stopped by PID: [`ChildGuard::stop`] with a chosen signal, SIGKILL on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    log: Option<PathBuf>,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` as configured (use [`command_in`] to place it in a namespace).
    pub fn spawn(cmd: &mut Command) -> Result<ChildGuard> {
        let name = cmd_line(cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(ChildGuard {
            child,
            name,
            log: None,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout pipe, when it was spawned with `Stdio::piped()` (a test may close it
    /// to see what the child does with a gone reader).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Stdout and stderr so far (only for [`spawn_in`] children).
    pub fn output(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the output contains `needle`; fails if the child exits first or on timeout.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let end = Instant::now() + timeout;
        loop {
            if self.output().contains(needle) {
                return Ok(());
            }
            if let Some(st) = self.try_wait()? {
                bail!(
                    "{} exited ({st}) before printing '{needle}': {}",
                    self.name,
                    self.output().trim()
                );
            }
            if Instant::now() > end {
                bail!("{} did not print '{needle}' within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if the child has ended.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Sends `sig` to the child's PID (nothing if it has already been reaped).
    pub fn signal(&mut self, sig: libc::c_int) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill(2) on our own unreaped child, so the PID cannot have been reused.
        if unsafe { libc::kill(pid, sig) } != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `sig`, waits up to `timeout` for the exit, then SIGKILLs. Returns the exit status.
    pub fn stop(&mut self, sig: libc::c_int, timeout: Duration) -> Result<ExitStatus> {
        self.signal(sig)?;
        self.wait_timeout(timeout)
    }

    /// Waits up to `timeout` for the child to exit by itself, then SIGKILLs it.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(st);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let st = self.child.wait()?;
                self.status = Some(st);
                bail!("{} did not exit within {timeout:?}: killed", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // Child::kill is kill(pid, SIGKILL) on our own unreaped child.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(log) = self.log.take() {
            let _ = std::fs::remove_file(log);
        }
    }
}
