//! The per-side TCP state machine of the original (spec §4.5), as a pure function of the flags
//! and the two sides' states. Sequence and acknowledgement numbers are deliberately not
//! consulted: the output must read like the original's.

use crate::decode::tcp::{ACK, FIN, RST, SYN};

/// State of one side of a session, as printed in the segment lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideState {
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    LastAck,
    Closed,
    TimeWait,
}

impl SideState {
    pub fn name(self) -> &'static str {
        match self {
            SideState::SynSent => "SYN_SENT",
            SideState::SynRecv => "SYN_RECV",
            SideState::Established => "ESTABLISHED",
            SideState::FinWait1 => "FIN_WAIT1",
            SideState::FinWait2 => "FIN_WAIT2",
            SideState::CloseWait => "CLOSE_WAIT",
            SideState::LastAck => "LAST_ACK",
            SideState::Closed => "CLOSED",
            SideState::TimeWait => "TIME_WAIT",
        }
    }

    /// Half-open or half-closed: such sessions time out after 30 s instead of 900 s (§4.7).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            SideState::SynSent
                | SideState::SynRecv
                | SideState::FinWait1
                | SideState::FinWait2
                | SideState::CloseWait
                | SideState::LastAck
        )
    }
}

/// Segment colours (spec §6.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
}

impl Color {
    /// The ANSI foreground code (`ESC[3Nm`).
    pub fn ansi(self) -> u8 {
        match self {
            Color::Red => 31,
            Color::Green => 32,
            Color::Yellow => 33,
            Color::Blue => 34,
            Color::Magenta => 35,
            Color::Cyan => 36,
        }
    }
}

/// Which kind of RST closed the session (spec §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rst {
    /// One side's FIN was already ACKed (CLOSE_WAIT against FIN_WAIT1/2).
    ClosePhase,
    /// Any other RST, including one answering a SYN.
    Break,
}

/// The outcome of one segment: new states, whether to show it, its colour, and the RST kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub sender: SideState,
    pub receiver: SideState,
    pub show: bool,
    pub color: Option<Color>,
    pub rst: Option<Rst>,
}

/// An unexpected transition: shown, in red.
fn unexpected(show: &mut bool, color: &mut Option<Color>) {
    *show = true;
    *color = Some(Color::Red);
}

/// Applies a segment with `flags` sent by the side in state `sender` to the side in state
/// `receiver`. The rules are evaluated in the spec's order, a later rule overriding the colour
/// an earlier one chose.
pub fn transition(flags: u8, sender: SideState, receiver: SideState) -> Transition {
    use SideState::*;
    let (mut s, mut r) = (sender, receiver);
    let mut show = false;
    let mut color = None;
    let mut rst = None;
    match flags & (FIN | SYN | RST | ACK) {
        // A repeated SYN on an existing session.
        f if f == SYN => {}
        f if f == SYN | ACK => {
            if s != SynRecv {
                unexpected(&mut show, &mut color);
            }
            if r == SynSent {
                r = Established;
                show = true;
                color = Some(Color::Yellow);
            } else {
                unexpected(&mut show, &mut color);
            }
        }
        f if f == ACK => {
            if s == Established && r == FinWait1 {
                s = CloseWait;
                show = true;
            } else if s == FinWait2 && r == LastAck {
                s = TimeWait;
                show = true;
            }
            match r {
                SynRecv => {
                    r = Established;
                    color = Some(Color::Yellow);
                    show = true;
                }
                FinWait1 => {
                    r = FinWait2;
                    show = true;
                }
                LastAck => {
                    r = Closed;
                    show = true;
                }
                _ => {}
            }
            if s == TimeWait && r == Closed {
                color = Some(Color::Blue);
            }
        }
        f if f == FIN | ACK => {
            match s {
                SynRecv => {
                    s = FinWait1;
                    show = true;
                }
                Established if r == Established => {
                    s = FinWait1;
                    show = true;
                }
                Established if r == FinWait1 => {
                    s = LastAck;
                    show = true;
                }
                Established => {}
                CloseWait => {
                    s = LastAck;
                    show = true;
                }
                _ => unexpected(&mut show, &mut color),
            }
            match r {
                Established | FinWait2 => {}
                FinWait1 => {
                    r = FinWait2;
                    show = true;
                }
                _ => unexpected(&mut show, &mut color),
            }
        }
        // FIN without ACK: the original falls through two cases here (missing `break`s); the
        // reds below are that behaviour, kept.
        f if f == FIN => {
            match s {
                Established => {
                    s = FinWait1;
                    show = true;
                }
                CloseWait => {
                    s = LastAck;
                    unexpected(&mut show, &mut color);
                }
                _ => unexpected(&mut show, &mut color),
            }
            match r {
                Established => {}
                FinWait2 => {
                    r = TimeWait;
                    unexpected(&mut show, &mut color);
                }
                _ => unexpected(&mut show, &mut color),
            }
        }
        f if f == RST || f == RST | ACK => {
            let close_phase = matches!(
                (s, r),
                (CloseWait, FinWait1) | (CloseWait, FinWait2) | (FinWait1, CloseWait) | (FinWait2, CloseWait)
            );
            rst = Some(if close_phase { Rst::ClosePhase } else { Rst::Break });
            s = Closed;
            r = Closed;
            unexpected(&mut show, &mut color);
        }
        // No flags, SYN+FIN, SYN+RST, FIN+RST, ...: shown in red, no state change.
        _ => unexpected(&mut show, &mut color),
    }
    Transition { sender: s, receiver: r, show, color, rst }
}
