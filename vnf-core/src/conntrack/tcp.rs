//! Window-insensitive TCP connection state machine.
//!
//! Only the flags of each segment are looked at (no sequence or window tracking). "Orig" is
//! the side that sent the first SYN. [`next`] is the pure transition function; [`TcpTrack`]
//! wraps it and remembers which side sent a FIN, which [`next`] needs to tell the two
//! half-closed states apart (see [`next`] for the convention).
//!
//! Normal life cycle:
//!
//! ```text
//! SYN(o) SynSent -> SYN-ACK(r) SynRecv -> ACK(o) Established
//! FIN(x) FinWait -> ACK(y) CloseWait -> FIN(y) LastAck -> ACK TimeWait
//!                -> FIN(y) LastAck (combined FIN-ACK, or simultaneous close)
//! RST (any state but None) -> Close;  SYN(o) in TimeWait/Close -> SynSent (tuple reuse)
//! ```

use super::Dir;
use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};

/// Connection state. Every state but `Established` uses the transitory timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TcpState {
    /// Nothing seen yet (also the state of non-TCP connections).
    #[default]
    None,
    /// SYN seen from Orig.
    SynSent,
    /// Simultaneous open: SYN seen in both directions.
    SynSent2,
    /// SYN-ACK seen; waiting for the ACK completing the handshake.
    SynRecv,
    /// Handshake complete.
    Established,
    /// One side sent a FIN; the other has neither acked it nor sent its own.
    FinWait,
    /// The first FIN was acked; the side that received it has not sent its FIN yet.
    CloseWait,
    /// Both sides sent a FIN; waiting for the final ACK.
    LastAck,
    /// Final ACK seen.
    TimeWait,
    /// Reset.
    Close,
}

/// A segment, classified by its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// SYN without ACK.
    Syn,
    /// SYN with ACK.
    SynAck,
    /// FIN, with or without ACK.
    Fin,
    /// ACK only (data or pure ACK).
    Ack,
    /// RST, with or without ACK.
    Rst,
    /// A combination that is never valid: SYN+FIN, SYN+RST, RST+FIN, or none of
    /// SYN/FIN/RST/ACK (null scan, PSH or URG alone).
    Invalid,
}

/// Classifies TCP flags (byte 13 of the TCP header). PSH, URG, ECE and CWR are ignored.
pub fn classify(flags: u8) -> Seg {
    let has = |f: u8| flags & f != 0;
    if has(SYN) {
        if has(FIN | RST) {
            Seg::Invalid
        } else if has(ACK) {
            Seg::SynAck
        } else {
            Seg::Syn
        }
    } else if has(RST) {
        if has(FIN) {
            Seg::Invalid
        } else {
            Seg::Rst
        }
    } else if has(FIN) {
        Seg::Fin
    } else if has(ACK) {
        Seg::Ack
    } else {
        Seg::Invalid
    }
}

/// Only a plain SYN may create a connection.
pub fn is_new_ok(seg: Seg) -> bool {
    seg == Seg::Syn
}

/// The state after a segment `seg` travelling in direction `dir`, or `Err(())` if the
/// segment is not acceptable in `state` (the state is then unchanged; the caller counts and
/// drops the packet).
///
/// `dir` is relative to the connection's originator, except in `FinWait` and `CloseWait`,
/// where `Orig` means "the side that sent the first FIN" and `Reply` the other side.
/// [`TcpTrack::on_segment`] does that translation; call `next` directly only with this in
/// mind.
///
/// `SynRecv` does not remember whether it was reached by a simultaneous open, so an ACK
/// from either side completes the handshake, and retransmitted SYNs and SYN-ACKs from either
/// side are accepted there (and SYN-ACKs in `Established`).
#[allow(clippy::result_unit_err)] // the interface is "valid or not"; the caller only counts
pub fn next(state: TcpState, dir: Dir, seg: Seg) -> Result<TcpState, ()> {
    use Dir::{Orig as O, Reply as R};
    use TcpState as S;
    match seg {
        Seg::Invalid => return Err(()),
        Seg::Rst if state == S::None => return Err(()),
        Seg::Rst => return Ok(S::Close),
        _ => {}
    }
    let to = match (state, seg, dir) {
        (S::None, Seg::Syn, O) => S::SynSent,

        (S::SynSent, Seg::Syn, O) => S::SynSent,
        (S::SynSent, Seg::Syn, R) => S::SynSent2,
        (S::SynSent, Seg::SynAck, R) => S::SynRecv,

        (S::SynSent2, Seg::Syn, _) => S::SynSent2,
        (S::SynSent2, Seg::SynAck, _) => S::SynRecv,

        (S::SynRecv, Seg::Syn | Seg::SynAck, _) => S::SynRecv,
        (S::SynRecv, Seg::Ack, _) => S::Established,
        (S::SynRecv, Seg::Fin, _) => S::FinWait,

        (S::Established, Seg::SynAck | Seg::Ack, _) => S::Established,
        (S::Established, Seg::Fin, _) => S::FinWait,

        // Orig = the first closer, Reply = the other side (see above).
        (S::FinWait, Seg::Fin | Seg::Ack, O) => S::FinWait,
        (S::FinWait, Seg::Ack, R) => S::CloseWait,
        (S::FinWait, Seg::Fin, R) => S::LastAck,

        (S::CloseWait, Seg::Fin | Seg::Ack, O) => S::CloseWait,
        (S::CloseWait, Seg::Ack, R) => S::CloseWait,
        (S::CloseWait, Seg::Fin, R) => S::LastAck,

        (S::LastAck, Seg::Fin, _) => S::LastAck,
        (S::LastAck, Seg::Ack, _) => S::TimeWait,

        (S::TimeWait, Seg::Fin | Seg::Ack, _) => S::TimeWait,
        (S::TimeWait | S::Close, Seg::Syn, O) => S::SynSent,

        _ => return Err(()),
    };
    Ok(to)
}

const fn dir_bit(d: Dir) -> u8 {
    1 << (d as u8)
}

/// Per-connection TCP tracking state: the [`TcpState`] plus which sides sent a FIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpTrack {
    /// Current state.
    pub state: TcpState,
    /// Bit `1 << dir` set when that direction sent a FIN (cleared by a restart).
    fin_dir: u8,
}

impl TcpTrack {
    /// State `None`, no FIN seen.
    pub const fn new() -> Self {
        TcpTrack { state: TcpState::None, fin_dir: 0 }
    }

    /// Whether direction `dir` has sent a FIN.
    pub fn fin_seen(&self, dir: Dir) -> bool {
        self.fin_dir & dir_bit(dir) != 0
    }

    /// Applies a segment with TCP flags `flags` seen in direction `dir`.
    /// On `Err(())` nothing changed.
    #[allow(clippy::result_unit_err)]
    pub fn on_segment(&mut self, dir: Dir, flags: u8) -> Result<(), ()> {
        self.apply(dir, classify(flags))
    }

    /// Like [`TcpTrack::on_segment`] with an already classified segment.
    #[allow(clippy::result_unit_err)]
    pub fn apply(&mut self, dir: Dir, seg: Seg) -> Result<(), ()> {
        // In the half-closed states `next` wants the direction relative to the first closer.
        let rel = match self.state {
            TcpState::FinWait | TcpState::CloseWait if self.fin_dir == dir_bit(Dir::Reply) => dir.flip(),
            _ => dir,
        };
        let to = next(self.state, rel, seg)?;
        if to == TcpState::SynSent {
            self.fin_dir = 0;
        } else if seg == Seg::Fin {
            self.fin_dir |= dir_bit(dir);
        }
        self.state = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::flags::{PSH, URG};
    use Dir::{Orig as O, Reply as R};
    use TcpState as S;

    const SEGS: [Seg; 6] = [Seg::Syn, Seg::SynAck, Seg::Fin, Seg::Ack, Seg::Rst, Seg::Invalid];
    const STATES: [TcpState; 10] = [
        S::None,
        S::SynSent,
        S::SynSent2,
        S::SynRecv,
        S::Established,
        S::FinWait,
        S::CloseWait,
        S::LastAck,
        S::TimeWait,
        S::Close,
    ];

    type Row = [Option<TcpState>; 6];
    const X: Option<TcpState> = Option::None;
    const fn s(t: TcpState) -> Option<TcpState> {
        Some(t)
    }

    /// The expected table, written out: (state, Orig row, Reply row); columns are
    /// Syn, SynAck, Fin, Ack, Rst, Invalid. In FinWait/CloseWait, Orig = first closer.
    #[rustfmt::skip]
    const TABLE: [(TcpState, Row, Row); 10] = [
        (S::None,
            [s(S::SynSent), X, X, X, X, X],
            [X, X, X, X, X, X]),
        (S::SynSent,
            [s(S::SynSent), X, X, X, s(S::Close), X],
            [s(S::SynSent2), s(S::SynRecv), X, X, s(S::Close), X]),
        (S::SynSent2,
            [s(S::SynSent2), s(S::SynRecv), X, X, s(S::Close), X],
            [s(S::SynSent2), s(S::SynRecv), X, X, s(S::Close), X]),
        (S::SynRecv,
            [s(S::SynRecv), s(S::SynRecv), s(S::FinWait), s(S::Established), s(S::Close), X],
            [s(S::SynRecv), s(S::SynRecv), s(S::FinWait), s(S::Established), s(S::Close), X]),
        (S::Established,
            [X, s(S::Established), s(S::FinWait), s(S::Established), s(S::Close), X],
            [X, s(S::Established), s(S::FinWait), s(S::Established), s(S::Close), X]),
        (S::FinWait,
            [X, X, s(S::FinWait), s(S::FinWait), s(S::Close), X],
            [X, X, s(S::LastAck), s(S::CloseWait), s(S::Close), X]),
        (S::CloseWait,
            [X, X, s(S::CloseWait), s(S::CloseWait), s(S::Close), X],
            [X, X, s(S::LastAck), s(S::CloseWait), s(S::Close), X]),
        (S::LastAck,
            [X, X, s(S::LastAck), s(S::TimeWait), s(S::Close), X],
            [X, X, s(S::LastAck), s(S::TimeWait), s(S::Close), X]),
        (S::TimeWait,
            [s(S::SynSent), X, s(S::TimeWait), s(S::TimeWait), s(S::Close), X],
            [X, X, s(S::TimeWait), s(S::TimeWait), s(S::Close), X]),
        (S::Close,
            [s(S::SynSent), X, X, X, s(S::Close), X],
            [X, X, X, X, s(S::Close), X]),
    ];

    #[test]
    fn transition_table_every_triple() {
        let mut checked = 0;
        for (i, (st, orig, reply)) in TABLE.iter().enumerate() {
            assert_eq!(*st, STATES[i], "table rows out of order");
            for (dir, row) in [(O, orig), (R, reply)] {
                for (seg, want) in SEGS.iter().zip(row.iter()) {
                    let got = next(*st, dir, *seg).ok();
                    assert_eq!(got, *want, "next({st:?}, {dir:?}, {seg:?})");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 10 * 2 * 6);
    }

    #[test]
    fn classify_flags() {
        assert_eq!(classify(SYN), Seg::Syn);
        assert_eq!(classify(SYN | URG | PSH), Seg::Syn);
        assert_eq!(classify(SYN | ACK), Seg::SynAck);
        assert_eq!(classify(FIN), Seg::Fin);
        assert_eq!(classify(FIN | ACK), Seg::Fin);
        assert_eq!(classify(FIN | ACK | PSH), Seg::Fin);
        assert_eq!(classify(ACK), Seg::Ack);
        assert_eq!(classify(ACK | PSH), Seg::Ack);
        assert_eq!(classify(ACK | 0xc0), Seg::Ack); // ECE/CWR ignored
        assert_eq!(classify(RST), Seg::Rst);
        assert_eq!(classify(RST | ACK), Seg::Rst);
        for bad in [
            0,
            PSH,
            URG,
            PSH | URG,
            0xc0,
            SYN | FIN,
            SYN | RST,
            SYN | FIN | ACK,
            SYN | RST | ACK,
            RST | FIN,
            RST | FIN | ACK,
            0xff,
        ] {
            assert_eq!(classify(bad), Seg::Invalid, "flags {bad:#04x}");
        }
        // every byte classifies to something, and only 0x02 (+PSH/URG/ECE/CWR) may open
        for f in 0..=255u8 {
            let c = classify(f);
            assert_eq!(is_new_ok(c), f & (SYN | ACK | FIN | RST) == SYN, "{f:#04x}");
        }
    }

    fn run(steps: &[(Dir, u8, TcpState)]) -> TcpTrack {
        let mut t = TcpTrack::new();
        for (i, &(d, f, want)) in steps.iter().enumerate() {
            assert_eq!(t.on_segment(d, f), Ok(()), "step {i}: {d:?} {f:#04x} in {:?}", t.state);
            assert_eq!(t.state, want, "step {i}");
        }
        t
    }

    const SA: u8 = SYN | ACK;
    const FA: u8 = FIN | ACK;
    const PA: u8 = PSH | ACK;

    fn established() -> TcpTrack {
        run(&[(O, SYN, S::SynSent), (R, SA, S::SynRecv), (O, ACK, S::Established)])
    }

    #[test]
    fn handshake_and_normal_close_by_orig() {
        let t = run(&[
            (O, SYN, S::SynSent),
            (O, SYN, S::SynSent), // retransmit
            (R, SA, S::SynRecv),
            (R, SA, S::SynRecv), // retransmit
            (O, ACK, S::Established),
            (O, PA, S::Established),
            (R, PA, S::Established),
            (R, SA, S::Established), // late retransmitted SYN-ACK
            (O, FA, S::FinWait),
            (O, FA, S::FinWait), // retransmitted FIN
            (O, ACK, S::FinWait),
            (R, ACK, S::CloseWait),
            (R, PA, S::CloseWait), // server still sending
            (O, ACK, S::CloseWait),
            (O, FA, S::CloseWait), // retransmitted first FIN
            (R, FA, S::LastAck),
            (R, FA, S::LastAck),
            (O, ACK, S::TimeWait),
            (O, ACK, S::TimeWait),
            (R, FA, S::TimeWait), // FIN retransmitted because the last ACK was lost
        ]);
        assert!(t.fin_seen(O) && t.fin_seen(R));
    }

    #[test]
    fn normal_close_by_reply() {
        let mut t = established();
        for (d, f, want) in [
            (R, FA, S::FinWait),
            (R, ACK, S::FinWait),
            (O, ACK, S::CloseWait),
            (O, PA, S::CloseWait),
            (R, FA, S::CloseWait),
            (O, FA, S::LastAck),
            (R, ACK, S::TimeWait),
        ] {
            assert_eq!(t.on_segment(d, f), Ok(()), "{d:?} {f:#x} in {:?}", t.state);
            assert_eq!(t.state, want);
        }
        assert!(t.fin_seen(O) && t.fin_seen(R));
    }

    #[test]
    fn combined_fin_ack_close() {
        for closer in [O, R] {
            let mut t = established();
            t.on_segment(closer, FA).unwrap();
            assert_eq!(t.state, S::FinWait);
            assert!(t.fin_seen(closer) && !t.fin_seen(closer.flip()));
            t.on_segment(closer.flip(), FA).unwrap();
            assert_eq!(t.state, S::LastAck);
            t.on_segment(closer, ACK).unwrap();
            assert_eq!(t.state, S::TimeWait);
        }
    }

    #[test]
    fn simultaneous_open() {
        run(&[
            (O, SYN, S::SynSent),
            (R, SYN, S::SynSent2),
            (O, SYN, S::SynSent2),
            (O, SA, S::SynRecv),
            (R, SA, S::SynRecv),
            (R, ACK, S::Established),
        ]);
        // and completed by Orig's ACK
        run(&[(O, SYN, S::SynSent), (R, SYN, S::SynSent2), (R, SA, S::SynRecv), (O, ACK, S::Established)]);
    }

    #[test]
    fn simultaneous_close() {
        let mut t = established();
        for (d, f, want) in [(O, FA, S::FinWait), (R, FA, S::LastAck), (R, ACK, S::TimeWait), (O, ACK, S::TimeWait)] {
            t.on_segment(d, f).unwrap();
            assert_eq!(t.state, want);
        }
    }

    #[test]
    fn close_before_established() {
        run(&[
            (O, SYN, S::SynSent),
            (R, SA, S::SynRecv),
            (O, FA, S::FinWait),
            (R, FA, S::LastAck),
            (O, ACK, S::TimeWait),
        ]);
    }

    /// Drives a track into `target` through a realistic sequence.
    fn reach(target: TcpState) -> TcpTrack {
        let path: &[(Dir, u8)] = match target {
            S::None => &[],
            S::SynSent => &[(O, SYN)],
            S::SynSent2 => &[(O, SYN), (R, SYN)],
            S::SynRecv => &[(O, SYN), (R, SA)],
            S::Established => &[(O, SYN), (R, SA), (O, ACK)],
            S::FinWait => &[(O, SYN), (R, SA), (O, ACK), (O, FA)],
            S::CloseWait => &[(O, SYN), (R, SA), (O, ACK), (O, FA), (R, ACK)],
            S::LastAck => &[(O, SYN), (R, SA), (O, ACK), (O, FA), (R, FA)],
            S::TimeWait => &[(O, SYN), (R, SA), (O, ACK), (O, FA), (R, FA), (O, ACK)],
            S::Close => &[(O, SYN), (R, RST)],
        };
        let mut t = TcpTrack::new();
        for &(d, f) in path {
            t.on_segment(d, f).unwrap();
        }
        assert_eq!(t.state, target);
        t
    }

    #[test]
    fn rst_in_every_state() {
        for st in STATES {
            for d in [O, R] {
                for f in [RST, RST | ACK] {
                    let mut t = reach(st);
                    let r = t.on_segment(d, f);
                    if st == S::None {
                        assert_eq!(r, Err(()));
                        assert_eq!(t.state, S::None);
                    } else {
                        assert_eq!(r, Ok(()), "{st:?} {d:?}");
                        assert_eq!(t.state, S::Close, "{st:?} {d:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rst_then_retransmitted_syn_restarts() {
        let mut t = established();
        t.on_segment(R, RST).unwrap();
        assert_eq!(t.state, S::Close);
        assert_eq!(t.on_segment(O, ACK), Err(())); // data after RST
        assert_eq!(t.on_segment(O, FA), Err(()));
        assert_eq!(t.on_segment(R, SYN), Err(()));
        assert_eq!(t.state, S::Close);
        t.on_segment(O, SYN).unwrap();
        assert_eq!(t.state, S::SynSent);
        t.on_segment(R, SA).unwrap();
        t.on_segment(O, ACK).unwrap();
        assert_eq!(t.state, S::Established);
    }

    #[test]
    fn reuse_after_time_wait_clears_fin_bits() {
        let mut t = reach(S::TimeWait);
        assert!(t.fin_seen(O) && t.fin_seen(R));
        assert_eq!(t.on_segment(R, SYN), Err(()));
        t.on_segment(O, SYN).unwrap();
        assert_eq!(t.state, S::SynSent);
        assert!(!t.fin_seen(O) && !t.fin_seen(R));
        // the new connection is closed by Reply; the stale bits must not confuse FinWait
        t.on_segment(R, SA).unwrap();
        t.on_segment(O, ACK).unwrap();
        t.on_segment(R, FA).unwrap();
        t.on_segment(O, ACK).unwrap();
        assert_eq!(t.state, S::CloseWait);
    }

    #[test]
    fn invalid_flags_rejected_everywhere() {
        for st in STATES {
            for d in [O, R] {
                for f in [SYN | FIN, SYN | RST, 0, PSH | URG, FIN | RST] {
                    let mut t = reach(st);
                    let before = t;
                    assert_eq!(t.on_segment(d, f), Err(()), "{st:?} {d:?} {f:#x}");
                    assert_eq!(t, before);
                }
            }
        }
    }

    #[test]
    fn only_syn_creates() {
        for f in [SA, ACK, FA, FIN, RST, 0] {
            let mut t = TcpTrack::new();
            assert_eq!(t.on_segment(O, f), Err(()));
        }
        assert!(!is_new_ok(Seg::SynAck));
        assert!(is_new_ok(Seg::Syn));
    }

    #[test]
    fn rejected_segments_leave_state_unchanged() {
        let mut t = reach(S::SynSent);
        assert_eq!(t.on_segment(O, ACK), Err(()));
        assert_eq!(t.on_segment(R, ACK), Err(()));
        assert_eq!(t.on_segment(O, FA), Err(()));
        assert_eq!(t.on_segment(O, SA), Err(()));
        assert_eq!(t.state, S::SynSent);
        let mut t = established();
        assert_eq!(t.on_segment(O, SYN), Err(()));
        assert_eq!(t.on_segment(R, SYN), Err(()));
        assert_eq!(t.state, S::Established);
    }
}
