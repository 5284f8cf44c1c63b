//! The named traffic scenarios of the test bed: which network each needs, which nft drop rules
//! make its loss, where to capture it, and which client to run. `cargo xtask gen-testdata`
//! records each one into `testdata/NAME.pcap`; live-capture tests can run the very same
//! scenario while miruo watches the interface that [`Scenario::capture_point`] names.
//!
//! Drops are made on the *receiving* side (input hook) or by the router (forward hook), and the
//! capture point is upstream of the drop, so a capture shows every packet as it was sent:
//! the lost original and its retransmission.

use super::peer::{self, ConnectOpts};
use super::{Hook, NetConfig, TestNet};
use anyhow::Result;
use std::net::IpAddr;
use std::time::Duration;

/// Where a scenario is captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePoint {
    /// The client's interface (sees both directions of every session).
    Client,
    /// The router's small-MTU interface towards the server (sees the fragments it made).
    RouterToServer,
}

/// One scenario. See [`all`].
pub struct Scenario {
    /// File stem: `testdata/NAME.pcap`.
    pub name: &'static str,
    /// What the traffic is, one line.
    pub summary: &'static str,
    /// Needs the router namespace.
    pub router: bool,
    pub capture: CapturePoint,
    /// tcpdump `-s` (None: full packets).
    pub snaplen: Option<u32>,
    /// A large benchmark capture: written under `target/testdata/`, never committed.
    pub bench: bool,
    run: fn(&TestNet) -> Result<()>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Scenario {
    /// The network the scenario needs.
    pub fn net_config(&self) -> NetConfig {
        if self.router {
            NetConfig::with_router()
        } else {
            NetConfig::direct()
        }
    }

    /// (namespace, interface) to capture on.
    pub fn capture_point(&self, net: &TestNet) -> (String, String) {
        match (self.capture, &net.router) {
            (CapturePoint::RouterToServer, Some(r)) => (r.ns.clone(), r.iface_server.clone()),
            _ => (net.client.ns.clone(), net.client.iface.clone()),
        }
    }

    /// Installs the scenario's drop rules and runs its client in the client namespace. The
    /// servers ([`TestNet::start_server`]) must already run; rules are installed each call, so
    /// run a scenario once per [`TestNet`] for the documented packet pattern.
    pub fn run(&self, net: &TestNet) -> Result<()> {
        (self.run)(net)
    }
}

fn v4(net: &TestNet) -> IpAddr {
    net.server.ipv4.into()
}

/// Every scenario, small ones first; `bulk_churn` (≥ 300,000 packets) last.
pub fn all() -> &'static [Scenario] {
    &SCENARIOS
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

const fn small(
    name: &'static str,
    summary: &'static str,
    run: fn(&TestNet) -> Result<()>,
) -> Scenario {
    Scenario {
        name,
        summary,
        router: false,
        capture: CapturePoint::Client,
        snaplen: None,
        bench: false,
        run,
    }
}

static SCENARIOS: [Scenario; 16] = [
    small(
        "echo_client_close",
        "echo on 9001, client sends, reads the echo and closes first",
        |n| n.in_client(|| peer::client_echo(v4(n), peer::PORT_ECHO)),
    ),
    small(
        "http",
        "three HTTP/1.0 sessions on 8080 (GET with query and Referer, POST, HEAD); server closes first",
        |n| n.in_client(|| peer::client_http(v4(n))),
    ),
    small(
        "server_close_first",
        "9004 greets and closes first; client ACKs the FIN separately, closes 0.1 s later",
        |n| n.in_client(|| peer::client_server_close(v4(n))),
    ),
    small(
        "rst_abort",
        "9003 answers, then aborts the established session with RST (SO_LINGER 0)",
        |n| n.in_client(|| peer::client_rst_abort(v4(n))),
    ),
    small(
        "rst_refused",
        "SYN to closed port 9009, answered by RST/ACK",
        |n| n.in_client(|| peer::client_refused(v4(n))),
    ),
    small(
        "rst_after_fin",
        "9004 closes first, client ACKs the FIN then aborts with RST (close-phase RST)",
        |n| n.in_client(|| peer::client_rst_after_fin(v4(n))),
    ),
    small(
        "long_connection",
        "9002 holds the session 3 s before answering",
        |n| n.in_client(|| peer::client_hold(v4(n), 3.0, ConnectOpts::default())),
    ),
    small(
        "long_gaps",
        "echo on 9001 with 1.5 s and 2.5 s of silence between exchanges",
        |n| n.in_client(|| peer::client_gaps(v4(n))),
    ),
    small(
        "retransmit_fast",
        "echo on 9005; server drops 3 of 4 data packets: retransmissions all < 1 s",
        |n| {
            n.nft_drop(
                &n.server.ns,
                Hook::Input,
                "tcp dport 9005 ip length > 60 numgen inc mod 4 < 3",
            )?;
            n.in_client(|| peer::client_echo(v4(n), peer::PORT_ECHO_DROP_FAST))
        },
    ),
    small(
        "retransmit_data",
        "echo on 9006; server drops 4 of 5 data packets: last retransmission > 1 s",
        |n| {
            n.nft_drop(
                &n.server.ns,
                Hook::Input,
                "tcp dport 9006 ip length > 60 numgen inc mod 5 < 4",
            )?;
            n.in_client(|| peer::client_echo(v4(n), peer::PORT_ECHO_DROP_SLOW))
        },
    ),
    small(
        "syn_retransmit",
        "echo on 9001; server drops the first SYN, client retransmits it after 1 s",
        |n| {
            n.nft_drop(
                &n.server.ns,
                Hook::Input,
                "tcp dport 9001 tcp flags & (syn|ack) == syn numgen inc mod 2 == 0",
            )?;
            n.in_client(|| peer::client_echo(v4(n), peer::PORT_ECHO))
        },
    ),
    small(
        "synack_retransmit",
        "9004; client drops the first SYN/ACK: SYN and SYN/ACK retransmitted, duplicate SYN/ACK",
        |n| {
            n.nft_drop(
                &n.client.ns,
                Hook::Input,
                "tcp sport 9004 tcp flags & (syn|ack) == syn|ack numgen inc mod 2 == 0",
            )?;
            n.in_client(|| peer::client_server_close(v4(n)))
        },
    ),
    Scenario {
        name: "ip_fragment",
        summary: "3000 bytes to sink 9010 with DF clear; router (MTU 800) fragments; captured on router egress",
        router: true,
        capture: CapturePoint::RouterToServer,
        snaplen: None,
        bench: false,
        run: |n| {
            let opts = ConnectOpts {
                no_df: true,
                ..Default::default()
            };
            n.in_client(|| peer::client_bulk(v4(n), 3000, opts))
        },
    },
    small(
        "ipv6",
        "echo on 9001 over IPv6 (fd00:6d72::1 -> fd00:6d72::2), client closes first",
        |n| n.in_client(|| peer::client_echo(n.server.ipv6.into(), peer::PORT_ECHO)),
    ),
    small(
        "keepalive",
        "9002 holds 4 s; client has SO_KEEPALIVE with 1 s idle/interval: probes and ACKs",
        |n| {
            let opts = ConnectOpts {
                keepalive_secs: Some(1),
                ..Default::default()
            };
            n.in_client(|| peer::client_hold(v4(n), 4.0, opts))
        },
    ),
    Scenario {
        name: "bulk_churn",
        summary: "24,000 short sessions (echo, HTTP, 1/16 refused) on 4 threads + 4 x 32 MiB uploads",
        router: false,
        capture: CapturePoint::Client,
        snaplen: Some(128),
        bench: true,
        run: |n| {
            let r = n.in_client(|| {
                peer::client_churn(v4(n), BULK_SHORT, 4, 4, 32 << 20, Duration::from_secs(240))
            })?;
            if r.errors > 0 {
                eprintln!(
                    "bulk_churn: {} client errors (of {} short sessions)",
                    r.errors, r.short_connections
                );
            }
            Ok(())
        },
    },
];

/// Short sessions in `bulk_churn`.
const BULK_SHORT: u64 = 24_000;
