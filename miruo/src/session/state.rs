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
                (CloseWait, FinWait1)
                    | (CloseWait, FinWait2)
                    | (FinWait1, CloseWait)
                    | (FinWait2, CloseWait)
            );
            rst = Some(if close_phase {
                Rst::ClosePhase
            } else {
                Rst::Break
            });
            s = Closed;
            r = Closed;
            unexpected(&mut show, &mut color);
        }
        // No flags, SYN+FIN, SYN+RST, FIN+RST, ...: shown in red, no state change.
        _ => unexpected(&mut show, &mut color),
    }
    Transition {
        sender: s,
        receiver: r,
        show,
        color,
        rst,
    }
}

#[cfg(test)]
mod tests {
    use super::SideState::*;
    use super::*;
    use crate::decode::tcp::{PSH, URG};

    fn t(
        flags: u8,
        s: SideState,
        r: SideState,
    ) -> (SideState, SideState, bool, Option<Color>, Option<Rst>) {
        let t = transition(flags, s, r);
        (t.sender, t.receiver, t.show, t.color, t.rst)
    }

    #[test]
    fn spec_4_5_syn_again_changes_nothing() {
        assert_eq!(
            t(SYN, SynSent, SynRecv),
            (SynSent, SynRecv, false, None, None)
        );
    }

    #[test]
    fn spec_4_5_syn_ack() {
        assert_eq!(
            t(SYN | ACK, SynRecv, SynSent),
            (SynRecv, Established, true, Some(Color::Yellow), None)
        );
        // A SYN/ACK reaching an established client is red.
        assert_eq!(
            t(SYN | ACK, SynRecv, Established),
            (SynRecv, Established, true, Some(Color::Red), None)
        );
        // From an unexpected sender state, red unless the receiver completes its handshake.
        assert_eq!(
            t(SYN | ACK, Established, SynSent),
            (Established, Established, true, Some(Color::Yellow), None)
        );
    }

    #[test]
    fn spec_4_5_ack() {
        assert_eq!(
            t(ACK, Established, SynRecv),
            (Established, Established, true, Some(Color::Yellow), None)
        );
        assert_eq!(
            t(ACK | PSH | URG, Established, Established),
            (Established, Established, false, None, None)
        );
        assert_eq!(
            t(ACK, Established, FinWait1),
            (CloseWait, FinWait2, true, None, None)
        );
        assert_eq!(
            t(ACK, FinWait2, LastAck),
            (TimeWait, Closed, true, Some(Color::Blue), None)
        );
        assert_eq!(
            t(ACK, CloseWait, FinWait2),
            (CloseWait, FinWait2, false, None, None)
        );
        assert_eq!(
            t(ACK, SynSent, LastAck),
            (SynSent, Closed, true, None, None)
        );
    }

    #[test]
    fn spec_4_5_fin_ack() {
        assert_eq!(
            t(FIN | ACK, Established, Established),
            (FinWait1, Established, true, None, None)
        );
        assert_eq!(
            t(FIN | ACK, Established, FinWait1),
            (LastAck, FinWait2, true, None, None)
        );
        assert_eq!(
            t(FIN | ACK, CloseWait, FinWait2),
            (LastAck, FinWait2, true, None, None)
        );
        assert_eq!(
            t(FIN | ACK, SynRecv, Established),
            (FinWait1, Established, true, None, None)
        );
        // Established sender, receiver neither established nor FIN_WAIT1: no change for the
        // sender; the receiver rule decides.
        assert_eq!(
            t(FIN | ACK, Established, FinWait2),
            (Established, FinWait2, false, None, None)
        );
        assert_eq!(
            t(FIN | ACK, FinWait1, Established),
            (FinWait1, Established, true, Some(Color::Red), None)
        );
        assert_eq!(
            t(FIN | ACK, CloseWait, Closed),
            (LastAck, Closed, true, Some(Color::Red), None)
        );
    }

    #[test]
    fn spec_4_5_bare_fin_falls_through_to_red() {
        assert_eq!(
            t(FIN, Established, Established),
            (FinWait1, Established, true, None, None)
        );
        assert_eq!(
            t(FIN, CloseWait, FinWait2),
            (LastAck, TimeWait, true, Some(Color::Red), None)
        );
        assert_eq!(
            t(FIN, SynSent, SynRecv),
            (SynSent, SynRecv, true, Some(Color::Red), None)
        );
    }

    #[test]
    fn spec_4_5_rst_kinds() {
        assert_eq!(
            t(RST | ACK, Established, Established),
            (Closed, Closed, true, Some(Color::Red), Some(Rst::Break))
        );
        assert_eq!(
            t(RST, SynRecv, SynSent),
            (Closed, Closed, true, Some(Color::Red), Some(Rst::Break))
        );
        for (s, r) in [
            (CloseWait, FinWait1),
            (CloseWait, FinWait2),
            (FinWait1, CloseWait),
            (FinWait2, CloseWait),
        ] {
            assert_eq!(t(RST, s, r).4, Some(Rst::ClosePhase), "{s:?} {r:?}");
        }
        assert_eq!(t(RST, LastAck, FinWait2).4, Some(Rst::Break));
    }

    #[test]
    fn spec_4_5_other_flag_combinations_are_red_without_change() {
        for flags in [
            0,
            SYN | FIN,
            SYN | RST,
            FIN | RST,
            SYN | FIN | ACK,
            RST | SYN | ACK,
        ] {
            assert_eq!(
                t(flags, Established, Established),
                (Established, Established, true, Some(Color::Red), None)
            );
        }
    }
}
