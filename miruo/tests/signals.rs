//! Signals and pipes of a running miruo (spec §8 with F18, issue 4): SIGINT, SIGTERM and SIGHUP
//! end the run with the statistics and exit status 0; SIGUSR1 prints the statistics and goes
//! on; a closed stdout ends the run the same way. Driven through `-f -` with a pipe this test
//! holds open, so miruo is waiting for input when the signal arrives.

mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

fn pcap_header() -> Vec<u8> {
    vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]
}

/// One Ethernet/IPv4/TCP frame as a pcap record.
fn record(sec: u32, port: u16, syn: bool, seq: u32) -> Vec<u8> {
    let mut frame = Vec::new();
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .tcp(port, 80, seq, 1000);
    let b = if syn { b.syn() } else { b.ack(1).psh() };
    b.write(&mut frame, b"x").expect("frame");
    let mut r = Vec::new();
    for v in [sec, 0, frame.len() as u32, frame.len() as u32] {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(&frame);
    r
}

struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Receiver<u8>,
    err_text: String,
}

impl Running {
    fn start(args: &[&str], stdout: Stdio) -> Running {
        let mut child = common::miruo()
            .args(["-f", "-"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("miruo starts");
        let stdin = child.stdin.take();
        let mut err = child.stderr.take().expect("stderr");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut b = [0u8; 1];
            while let Ok(1) = err.read(&mut b) {
                if tx.send(b[0]).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stdin,
            stderr: rx,
            err_text: String::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("miruo reads");
        stdin.flush().expect("flush");
    }

    /// Waits until stderr has shown `n` statistics blocks.
    fn wait_blocks(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .err_text
            .matches("===== Session Statistics =====")
            .count()
            < n
        {
            assert!(
                Instant::now() < deadline,
                "no statistics block {n}: {}",
                self.err_text
            );
            if let Ok(b) = self.stderr.recv_timeout(Duration::from_millis(50)) {
                self.err_text.push(b as char);
            }
        }
        // The rest of the block.
        while let Ok(b) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            self.err_text.push(b as char);
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill on the PID of our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.wait_blocks(0);
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("miruo did not exit: {}", self.err_text);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn stop_signals_end_with_statistics_and_status_0() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let mut m = Running::start(&["--all"], Stdio::null());
        m.send(&pcap_header());
        m.send(&record(1_700_000_000, 40000, true, 7));
        std::thread::sleep(Duration::from_millis(200));
        m.signal(sig);
        assert_eq!(m.wait_exit(), 0, "signal {sig}: {}", m.err_text);
        assert_eq!(
            m.err_text.matches("===== Session Statistics =====").count(),
            1,
            "signal {sig}"
        );
        assert!(
            m.err_text.contains("Total Sessions  : 1"),
            "signal {sig}: {}",
            m.err_text
        );
    }
}

#[test]
fn sigusr1_prints_statistics_and_goes_on() {
    let mut m = Running::start(&[], Stdio::null());
    m.send(&pcap_header());
    m.send(&record(1_700_000_000, 40000, true, 7));
    std::thread::sleep(Duration::from_millis(200));
    m.signal(libc::SIGUSR1);
    m.wait_blocks(1);
    assert!(m.err_text.contains("Total Sessions  : 1"), "{}", m.err_text);
    // Still running: a second session, then the end of the input.
    m.send(&record(1_700_000_001, 40001, true, 9));
    drop(m.stdin.take());
    assert_eq!(m.wait_exit(), 0);
    assert_eq!(
        m.err_text.matches("===== Session Statistics =====").count(),
        2
    );
    assert!(
        m.err_text.ends_with("==============================\n"),
        "{}",
        m.err_text
    );
    assert!(m.err_text.contains("Total Sessions  : 2"), "{}", m.err_text);
}

#[test]
fn a_closed_stdout_ends_the_run_f18() {
    let mut m = Running::start(&["--live"], Stdio::piped());
    let stdout = m.child.stdout.take().expect("stdout");
    drop(stdout);
    m.send(&pcap_header());
    // Enough output to hit the closed pipe however the output is buffered.
    let stdin = m.stdin.as_mut().expect("stdin");
    for i in 0..5000u32 {
        // miruo stops reading once it has noticed; a broken pipe here is that.
        if stdin
            .write_all(&record(
                1_700_000_000 + i / 100,
                30000 + (i % 30000) as u16,
                true,
                i,
            ))
            .is_err()
        {
            break;
        }
    }
    drop(m.stdin.take());
    assert_eq!(m.wait_exit(), 0, "{}", m.err_text);
    assert!(
        m.err_text.contains("===== Session Statistics ====="),
        "{}",
        m.err_text
    );
}
