//! The network test bed end to end: build a [`TestNet`], run real sessions through it, and check
//! that dropping the guards removed every namespace and stopped every process. Needs root;
//! without it the tests print why they are skipped (and fail when `CI=true`, where they must run).

use std::io::Write;
use std::time::Duration;
use xtask::testbed::{self, Hook, NetConfig, TestNet, peer};

fn root_or_skip(test: &str) -> bool {
    if testbed::is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: the test bed needs root, and CI=true requires it to run"
    );
    // Straight to stderr, past the test harness's capture, so the skip is visible.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped (needs root for network namespaces)"
    );
    false
}

#[test]
fn echo_over_ipv4_and_ipv6_then_cleanup() {
    if !root_or_skip("echo_over_ipv4_and_ipv6_then_cleanup") {
        return;
    }
    let names = {
        let net = TestNet::new(NetConfig::direct()).expect("test net");
        let names = net.namespaces().to_vec();
        assert_eq!(names.len(), 2);
        assert!(
            names.iter().all(|n| testbed::netns_exists(n)),
            "namespaces exist: {names:?}"
        );
        // The veths were created inside the namespaces: none appears in the test's namespace.
        let here = std::process::Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("ip link");
        let here = String::from_utf8_lossy(&here.stdout);
        assert!(
            !here.contains(&format!(" {}@", net.client.iface)),
            "veth leaked: {here}"
        );

        let server = net.start_server().expect("servers");
        let (v4, v6) = (net.server.ipv4.into(), net.server.ipv6.into());
        net.in_client(|| peer::client_echo(v4, peer::PORT_ECHO))
            .expect("IPv4 echo");
        net.in_client(|| peer::client_echo(v6, peer::PORT_ECHO))
            .expect("IPv6 echo");
        net.in_client(|| peer::client_refused(v4)).expect("refused");
        assert_eq!(server.accepted(), 2);

        // No route leads out of the bed: the client cannot reach anything else.
        let routes = testbed::run_in(&net.client.ns, &["ip", "route", "show"]).expect("ip route");
        assert!(
            !routes.contains("default"),
            "unexpected default route: {routes}"
        );
        names
    };
    for n in &names {
        assert!(
            !testbed::netns_exists(n),
            "namespace {n} still exists after drop"
        );
    }
}

#[test]
fn nft_drop_makes_a_syn_retransmission() {
    if !root_or_skip("nft_drop_makes_a_syn_retransmission") {
        return;
    }
    let net = TestNet::new(NetConfig::direct()).expect("test net");
    let _server = net.start_server().expect("servers");
    net.nft_drop(
        &net.server.ns,
        Hook::Input,
        "tcp dport 9001 tcp flags & (syn|ack) == syn numgen inc mod 2 == 0",
    )
    .expect("nft rule");
    let v4 = net.server.ipv4.into();
    let t0 = std::time::Instant::now();
    net.in_client(|| peer::client_echo(v4, peer::PORT_ECHO))
        .expect("echo despite the lost SYN");
    // The first SYN was dropped: connecting took the 1 s initial retransmission timeout.
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "SYN was not dropped ({:?})",
        t0.elapsed()
    );
    assert!(net.nft(&net.server.ns, "list ruleset").is_ok());
    assert!(
        net.nft("not-a-namespace-of-this-bed", "list ruleset")
            .is_err()
    );
}

#[test]
fn child_guard_kills_by_pid_on_drop() {
    if !root_or_skip("child_guard_kills_by_pid_on_drop") {
        return;
    }
    let net = TestNet::new(NetConfig {
        offloads_off: false,
        ..NetConfig::direct()
    })
    .expect("test net");
    let pid = {
        let mut child =
            testbed::spawn_in(&net.server.ns, &["sh", "-c", "echo ready; exec sleep 60"])
                .expect("spawn");
        child
            .wait_for_output("ready", Duration::from_secs(5))
            .expect("output");
        assert!(child.try_wait().expect("try_wait").is_none());
        child.pid()
    };
    // Reaped by the guard: no process (not even a zombie) with that PID belongs to us any more.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        !stat.contains("(sleep)"),
        "sleep {pid} survived its guard: {stat}"
    );
}

#[test]
fn router_fragments_ipv4_without_df() {
    if !root_or_skip("router_fragments_ipv4_without_df") {
        return;
    }
    let net = TestNet::new(NetConfig::with_router()).expect("test net");
    let router = net.router.clone().expect("router");
    let _server = net.start_server().expect("servers");
    let frags = |ns: &str| -> u64 {
        let out = testbed::run_in(ns, &["cat", "/proc/net/snmp"]).expect("snmp");
        // Row "Ip:" field FragCreates.
        let mut rows = out.lines().filter(|l| l.starts_with("Ip:"));
        let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
        let i = names
            .split_whitespace()
            .position(|f| f == "FragCreates")
            .expect("FragCreates");
        values
            .split_whitespace()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = frags(&router.ns);
    let v4 = net.server.ipv4.into();
    let opts = peer::ConnectOpts {
        no_df: true,
        ..Default::default()
    };
    net.in_client(|| peer::client_bulk(v4, 3000, opts))
        .expect("bulk through the router");
    assert!(frags(&router.ns) > before, "the router made no fragments");
}
