//! A capture read from stdin (`-f -`), e.g. `tcpdump -w - | miruo -f -`. The pipe's writer may
//! go quiet for any length of time, and a read from it blocks; so the file reader runs on its
//! own thread and hands frames over a bounded channel, and the pipeline keeps answering signals
//! (SIGUSR1 statistics, SIGTERM) while nothing arrives.

use super::file::FileSource;
use super::{Frame, LinkType, Next, Source, SourceStats};
use anyhow::{Result, anyhow};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

/// How long `next` waits for a frame before letting the pipeline look at its signals.
const WAIT: Duration = Duration::from_millis(50);
/// Frames in flight between the reader thread and the pipeline.
const CHANNEL_FRAMES: usize = 4096;

struct OwnedFrame {
    ts_us: i64,
    link: LinkType,
    wire_len: u32,
    data: Vec<u8>,
}

enum Msg {
    Frame(OwnedFrame),
    End,
    Error(anyhow::Error),
}

pub struct StdinSource {
    rx: Receiver<Msg>,
    link: LinkType,
    snaplen: u32,
    frames: u64,
    current: Option<OwnedFrame>,
    ended: bool,
}

impl StdinSource {
    /// Reads the capture header from stdin (blocking until it arrives), then starts the reader.
    pub fn open() -> Result<StdinSource> {
        let file = FileSource::from_reader("-", Box::new(std::io::stdin()))?;
        let (link, snaplen) = (file.link_type(), file.snaplen());
        let (tx, rx) = sync_channel(CHANNEL_FRAMES);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || read_all(file, tx))?;
        Ok(StdinSource {
            rx,
            link,
            snaplen,
            frames: 0,
            current: None,
            ended: false,
        })
    }
}

fn read_all(mut file: FileSource, tx: SyncSender<Msg>) {
    loop {
        let msg = match file.next() {
            Ok(Next::Frame(f)) => Msg::Frame(OwnedFrame {
                ts_us: f.ts_us,
                link: f.link,
                wire_len: f.wire_len,
                data: f.data.to_vec(),
            }),
            Ok(Next::Metadata | Next::Idle { .. }) => continue,
            Ok(Next::End) => Msg::End,
            Err(e) => Msg::Error(e),
        };
        let last = !matches!(msg, Msg::Frame(_));
        // The pipeline has gone (it stopped): nothing left to do.
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

impl Source for StdinSource {
    fn next(&mut self) -> Result<Next<'_>> {
        if self.ended {
            return Ok(Next::End);
        }
        match self.rx.recv_timeout(WAIT) {
            Ok(Msg::Frame(f)) => {
                self.frames += 1;
                let f = self.current.insert(f);
                Ok(Next::Frame(Frame {
                    ts_us: f.ts_us,
                    link: f.link,
                    wire_len: f.wire_len,
                    data: &f.data,
                }))
            }
            // No time passes for the tracker: a file's time comes from its packets only.
            Err(RecvTimeoutError::Timeout) => Ok(Next::Metadata),
            Ok(Msg::End) => {
                self.ended = true;
                Ok(Next::End)
            }
            Ok(Msg::Error(e)) => {
                self.ended = true;
                Err(e)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Err(anyhow!("the stdin reader stopped unexpectedly"))
            }
        }
    }

    fn link_type(&self) -> LinkType {
        self.link
    }

    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn stats(&self) -> SourceStats {
        SourceStats::file(self.frames)
    }
}
