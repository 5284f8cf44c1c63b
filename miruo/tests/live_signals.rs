//! Signals, periodic statistics and a closed stdout during a real live capture (issue 4, F18):
//! `miruo -i` on a test-bed veth prints the statistics with an `eBPF Statistics` section every
//! `-s` seconds and on SIGUSR1, and SIGTERM, SIGHUP and a closed stdout end the run with the
//! final statistics and exit status 0. Needs root and the eBPF build; skips with a message
//! otherwise (fails under CI=true).

use anyhow::{Result, bail};
use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use xtask::testbed::{self, ChildGuard, NetConfig, TestNet, peer};

fn ready() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !miruo::source::live::available() || !testbed::is_root() {
        assert!(
            !ci,
            "CI=true: live signal tests need root and the eBPF build"
        );
        eprintln!("SKIP: live signal tests need root and miruo built with its eBPF programs");
        return false;
    }
    true
}

fn blocks(err: &Path) -> usize {
    std::fs::read_to_string(err)
        .unwrap_or_default()
        .matches("===== eBPF Statistics =====")
        .count()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let end = Instant::now() + timeout;
    while !done()? {
        if Instant::now() > end {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts `miruo -i IFACE ARGS` in the client namespace; stdout to `out` (or a pipe when
/// `None`), stderr to `err`; returns once it is capturing.
fn start(net: &TestNet, args: &[&str], out: Option<&Path>, err: &Path) -> Result<ChildGuard> {
    let mut cmd = testbed::command_in(&net.client.ns, env!("CARGO_BIN_EXE_miruo"));
    cmd.args(["-i", &net.client.iface, "-C", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(match out {
            Some(p) => Stdio::from(std::fs::File::create(p)?),
            None => Stdio::piped(),
        })
        .stderr(std::fs::File::create(err)?);
    let mut miruo = ChildGuard::spawn(&mut cmd)?;
    wait_until("miruo to attach", Duration::from_secs(30), || {
        if miruo.try_wait()?.is_some() {
            bail!("miruo -i exited: {}", std::fs::read_to_string(err)?);
        }
        Ok(std::fs::read_to_string(err)?.contains("capturing on"))
    })?;
    Ok(miruo)
}

#[test]
fn live_statistics_and_stop_signals() -> Result<()> {
    if !ready() {
        return Ok(());
    }
    let net = TestNet::new(NetConfig::direct())?;
    let _server = net.start_server()?;
    let host = IpAddr::V4(net.server.ipv4);
    let dir = std::env::temp_dir().join(format!("mrt-{}-signals", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (out, err) = (dir.join("out"), dir.join("err"));

    for stop in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // -s 1: a block right after start-up, then every second (spec §7.2).
        let mut miruo = start(&net, &["--all", "-s", "1"], Some(&out), &err)?;
        wait_until("two periodic blocks", Duration::from_secs(10), || {
            Ok(blocks(&err) >= 2)
        })?;
        net.in_client(|| peer::client_echo(host, peer::PORT_ECHO))?;
        let before = blocks(&err);
        miruo.signal(libc::SIGUSR1)?;
        wait_until("the SIGUSR1 block", Duration::from_secs(10), || {
            Ok(blocks(&err) > before)
        })?;
        assert!(miruo.try_wait()?.is_none(), "SIGUSR1 must not stop miruo");
        let status = miruo.stop(stop, Duration::from_secs(10))?;
        assert_eq!(status.code(), Some(0), "signal {stop}: {status}");
        let text = std::fs::read_to_string(&err)?;
        assert!(
            text.ends_with("==============================\n"),
            "signal {stop}: final block last:\n{text}"
        );
        assert!(
            text.contains("Total Sessions  : 1"),
            "signal {stop}:\n{text}"
        );
        let stdout = std::fs::read_to_string(&out)?;
        assert!(
            stdout.contains("TIME_WAIT") || stdout.contains("CLOSED"),
            "the echo session:\n{stdout}"
        );
    }

    // F18: the reader of stdout goes away; the next output ends the run.
    let mut miruo = start(&net, &["--live"], None, &err)?;
    drop(miruo.take_stdout());
    net.in_client(|| peer::client_echo(host, peer::PORT_ECHO))?;
    let status = miruo.wait_timeout(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(0), "closed stdout: {status}");
    assert!(std::fs::read_to_string(&err)?.contains("===== eBPF Statistics ====="));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
