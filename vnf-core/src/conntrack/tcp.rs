//! TCP connection tracking: a state machine over the flags of each segment, and per
//! direction the sequence space each side may use (netfilter's `tcp_in_window`), so that a
//! segment outside the window, above all a spoofed RST, changes nothing.
//!
//! "Orig" is the side that sent the first SYN. [`next`] is the pure transition function on
//! flags; [`TcpTrack`] wraps it, remembers which side sent a FIN (which [`next`] needs to
//! tell the two half-closed states apart), and with [`TcpTrack::track`] checks the numbers
//! of each segment against the windows.
//!
//! Normal life cycle:
//!
//! ```text
//! SYN(o) SynSent -> SYN-ACK(r) SynRecv -> ACK(o) Established
//! FIN(x) FinWait -> ACK(y) CloseWait -> FIN(y) LastAck -> ACK TimeWait
//!                -> FIN(y) LastAck (combined FIN-ACK, or simultaneous close)
//! RST (any state but None) -> Close;  SYN(o) in TimeWait/Close -> SynSent (tuple reuse)
//! ACK, FIN in Close -> Close (data in flight when the RST was sent)
//! ```
//!
//! Windows. Per direction ([`Window`]): `end`, the highest sequence number sent plus one
//! (`seq + len`, SYN and FIN counting one); `maxend`, the highest the side may send to (the
//! largest `ack + window` the other side advertised); `maxwin`, the largest window it
//! advertised (scaled); `maxack`, the highest acknowledgement it sent. A segment from
//! sender `s` to receiver `r` is in the window when (all modulo 2^32):
//!
//! 1. `seq <= s.maxend`: it starts where `r` allowed `s` to send;
//! 2. `seq + len >= s.end - r.maxwin`: it is not older than a window (retransmissions are);
//! 3. `ack <= r.end`: it acknowledges nothing `r` did not send;
//! 4. `ack >= r.end - max(s.maxwin, 66000)`: nor something older than a window.
//!
//! A segment without ACK (or a RST with an acknowledgement number of 0) passes 3 and 4. In
//! the window, the segment updates the windows and moves the state; outside it, it is
//! rejected ([`Reject::OutOfWindow`], [`Reject::RstOutOfWindow`]) and nothing changes,
//! unless the caller is liberal (`[conntrack] tcp_liberal`, netfilter's
//! `nf_conntrack_tcp_be_liberal`): then the segment passes and moves the state without
//! updating the windows, except a RST, which never changes the state from outside the
//! window.
//!
//! RST (RFC 5961 3, RFC 7857 2.2): a RST in the window moves the connection to `Close` only
//! when its sequence number is the exact one, the sender's `end` or the receiver's
//! `maxack` (what a stack sends with a RST); a RST elsewhere in the window passes without a
//! state change ([`Accepted::RstInexact`]), so that the receiver's challenge ACK and the
//! exact RST the real peer answers it with get through. In `SynSent` the reply side has
//! sent nothing yet: its RST must acknowledge the SYN exactly (RFC 9293 3.10.7.3). After a
//! valid RST, `Close` keeps the connection for the transitory timeout and lets in-window
//! ACKs and FINs through (the data that was in flight), as netfilter's CLOSE does.
//!
//! Window scaling (RFC 7323): the shift of each side's SYN option applies to the windows
//! of its later segments when both SYNs carried the option; a SYN's own window is never
//! scaled. A direction picked up without its SYN (no handshake seen) is given the largest
//! shift, 14, so that the window check errs on the liberal side.

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
        // Data and FINs in flight when the RST was sent (the window check bounds them).
        (S::Close, Seg::Fin | Seg::Ack, _) => S::Close,

        _ => return Err(()),
    };
    Ok(to)
}

const fn dir_bit(d: Dir) -> u8 {
    1 << (d as u8)
}

/// `a < b` in sequence space (RFC 9293 3.4, modulo 2^32).
#[inline(always)]
const fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a > b` in sequence space.
#[inline(always)]
const fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// The smallest window the acknowledgement check allows (netfilter's `MAXACKWINCONST`).
const MIN_ACK_WINDOW: u32 = 66_000;
/// The largest window scale shift (RFC 7323 2.3).
const MAX_SCALE: u8 = 14;

/// What the window check reads from a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    /// Flag byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with ACK).
    pub ack: u32,
    /// Window field, unscaled.
    pub win: u16,
    /// Payload length.
    pub len: u32,
    /// Window scale shift of a SYN's option, if it has one.
    pub wscale: Option<u8>,
}

impl Segment {
    /// Reads the segment of the IPv4 packet `ip` (IP header onward) through the wire views:
    /// `None` if it is not a checked IPv4 packet holding a TCP header whose data offset fits.
    #[inline]
    pub fn parse_ipv4(ip: &[u8]) -> Option<Segment> {
        let p = crate::wire::ipv4::Ipv4Packet::new_checked(ip).ok()?;
        let t = crate::wire::tcp::TcpPacket::new_checked(p.payload()).ok()?;
        let flags = t.flags();
        Some(Segment {
            flags,
            seq: t.seq(),
            ack: t.ack(),
            win: t.window(),
            len: t.payload().len() as u32,
            wscale: if flags & SYN != 0 { t.window_scale() } else { None },
        })
    }

    /// Sequence space the segment takes: payload, plus one for SYN and for FIN.
    #[inline]
    fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.len)
            .wrapping_add(u32::from(self.flags & SYN != 0) + u32::from(self.flags & FIN != 0))
    }
}

/// One direction's sequence space (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    /// Highest sequence number sent, plus one.
    pub end: u32,
    /// Highest sequence number the other side allowed (ack + window).
    pub maxend: u32,
    /// Largest window advertised (scaled); 0 while the direction has sent nothing.
    pub maxwin: u32,
    /// Highest acknowledgement sent (with [`Window::MAXACK`] in the flags).
    pub maxack: u32,
}

impl Window {
    /// Flag bits (per direction, [`TcpTrack`] keeps them): the low four bits are the shift.
    const SCALE: u8 = 0x0f;
    /// The direction's SYN carried the window scale option.
    const WSCALE_OK: u8 = 0x10;
    /// `maxack` holds an acknowledgement.
    const MAXACK: u8 = 0x20;
    /// The direction has sent something: its window is known.
    const SEEN: u8 = 0x40;
}

/// Why [`TcpTrack::track`] rejected a segment (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Its flags fit no transition of the current state.
    Invalid,
    /// A segment other than a RST outside the window.
    OutOfWindow,
    /// A RST outside the window (or, in `SynSent`, not acknowledging the SYN).
    RstOutOfWindow,
}

/// How [`TcpTrack::track`] accepted a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// In the window; the state moved as the flags say.
    InWindow,
    /// A RST in the window but not at the exact sequence number: let through, the state kept.
    RstInexact,
    /// Outside the window but let through by the liberal setting (a RST without a state change).
    Liberal,
}

/// Per-connection TCP tracking state: the [`TcpState`], which sides sent a FIN, and the two
/// directions' windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpTrack {
    /// Current state.
    pub state: TcpState,
    /// Bit `1 << dir` set when that direction sent a FIN (cleared by a restart).
    fin_dir: u8,
    /// Per direction: [`Window`] flag bits and the scale shift.
    wflags: [u8; 2],
    /// Per direction ([`Dir::index`]): what it sent and may send.
    win: [Window; 2],
}

impl TcpTrack {
    /// State `None`, no FIN seen, no window known.
    pub const fn new() -> Self {
        const W: Window = Window { end: 0, maxend: 0, maxwin: 0, maxack: 0 };
        TcpTrack { state: TcpState::None, fin_dir: 0, wflags: [0; 2], win: [W; 2] }
    }

    /// Whether direction `dir` has sent a FIN.
    pub fn fin_seen(&self, dir: Dir) -> bool {
        self.fin_dir & dir_bit(dir) != 0
    }

    /// Direction `dir`'s window, once it sent something.
    pub fn window(&self, dir: Dir) -> Option<Window> {
        (self.wflags[dir.index()] & Window::SEEN != 0).then_some(self.win[dir.index()])
    }

    /// Direction `dir`'s window scale shift in effect.
    pub fn scale(&self, dir: Dir) -> u8 {
        self.wflags[dir.index()] & Window::SCALE
    }

    /// Applies a segment with TCP flags `flags` seen in direction `dir`, looking at the flags
    /// only (no window check; [`TcpTrack::track`] is the packet path's).
    /// On `Err(())` nothing changed.
    #[allow(clippy::result_unit_err)]
    pub fn on_segment(&mut self, dir: Dir, flags: u8) -> Result<(), ()> {
        self.apply(dir, classify(flags))
    }

    /// Like [`TcpTrack::on_segment`] with an already classified segment.
    #[allow(clippy::result_unit_err)]
    pub fn apply(&mut self, dir: Dir, seg: Seg) -> Result<(), ()> {
        let to = self.next_state(dir, seg)?;
        self.set_state(dir, seg, to);
        Ok(())
    }

    fn next_state(&self, dir: Dir, seg: Seg) -> Result<TcpState, ()> {
        // In the half-closed states `next` wants the direction relative to the first closer.
        let rel = match self.state {
            TcpState::FinWait | TcpState::CloseWait if self.fin_dir == dir_bit(Dir::Reply) => dir.flip(),
            _ => dir,
        };
        next(self.state, rel, seg)
    }

    fn set_state(&mut self, dir: Dir, seg: Seg, to: TcpState) {
        if to == TcpState::SynSent {
            self.fin_dir = 0;
        } else if seg == Seg::Fin {
            self.fin_dir |= dir_bit(dir);
        }
        self.state = to;
    }

    /// Starts direction `d`'s window from its SYN or SYN-ACK `s`.
    fn init_from_syn(&mut self, d: usize, s: &Segment) {
        let end = s.end();
        self.win[d] = Window { end, maxend: end, maxwin: u32::from(s.win).max(1), maxack: 0 };
        self.wflags[d] = Window::SEEN | s.wscale.map_or(0, |w| Window::WSCALE_OK | w.min(MAX_SCALE));
    }

    /// Applies segment `s` seen in direction `dir`: the flags must fit a transition and the
    /// numbers the windows (see the module documentation); `liberal` lets segments outside
    /// the window through. On `Err` nothing changed.
    pub fn track(&mut self, dir: Dir, s: &Segment, liberal: bool) -> Result<Accepted, Reject> {
        let seg = classify(s.flags);
        let to = self.next_state(dir, seg).map_err(|()| Reject::Invalid)?;
        let (d, o) = (dir.index(), dir.flip().index());
        if seg == Seg::Syn && dir == Dir::Orig && to == TcpState::SynSent {
            // A new connection, a retransmitted SYN, or the reuse of a closed tuple: both
            // windows start over.
            *self = TcpTrack { state: self.state, fin_dir: self.fin_dir, ..TcpTrack::new() };
            self.init_from_syn(d, s);
            self.set_state(dir, seg, to);
            return Ok(Accepted::InWindow);
        }
        let ack_flag = s.flags & ACK != 0;
        if self.wflags[d] & Window::SEEN == 0 {
            match seg {
                Seg::Syn | Seg::SynAck => {
                    // The other side's first segment: its SYN-ACK must acknowledge the SYN.
                    let r = self.win[o];
                    let acks_syn = !after(s.ack, r.end) && !before(s.ack, r.end.wrapping_sub(MIN_ACK_WINDOW));
                    if seg == Seg::SynAck && !acks_syn && !liberal {
                        return Err(Reject::OutOfWindow);
                    }
                    self.init_from_syn(d, s);
                    if self.wflags[d] & self.wflags[o] & Window::WSCALE_OK == 0 {
                        // Scaling needs both SYNs to offer it (RFC 7323 2.2).
                        self.wflags[d] &= !Window::SCALE;
                        self.wflags[o] &= !Window::SCALE;
                    }
                    if ack_flag {
                        self.update_ack(d, o, s.ack, u32::from(s.win));
                    }
                    self.set_state(dir, seg, to);
                    return Ok(Accepted::InWindow);
                }
                Seg::Rst => {
                    // RFC 9293 3.10.7.3: in SYN-SENT a RST counts only if it acknowledges the SYN.
                    if ack_flag && s.ack == self.win[o].end {
                        self.set_state(dir, seg, to);
                        return Ok(Accepted::InWindow);
                    }
                    return if liberal { Ok(Accepted::Liberal) } else { Err(Reject::RstOutOfWindow) };
                }
                _ => {
                    // Picked up without its SYN: start from this segment, with the largest
                    // scale (the real one is unknown) so the check errs on the liberal side.
                    let win = u32::from(s.win) << MAX_SCALE;
                    let maxwin = win.max(1);
                    self.win[d] = Window { end: s.end(), maxend: s.end().wrapping_add(maxwin), maxwin, maxack: 0 };
                    self.wflags[d] = Window::SEEN | MAX_SCALE;
                    if self.wflags[o] & Window::SEEN == 0 {
                        self.win[o].end = s.ack;
                        self.win[o].maxend = s.ack;
                    }
                }
            }
        }
        let (sw, rw) = (self.win[d], self.win[o]);
        let win =
            if seg == Seg::Syn || seg == Seg::SynAck { u32::from(s.win) } else { u32::from(s.win) << self.scale(dir) };
        let end = s.end();
        let ack = if ack_flag && !(seg == Seg::Rst && s.ack == 0) { s.ack } else { rw.end };
        let in_window = !after(s.seq, sw.maxend)
            && !before(end, sw.end.wrapping_sub(rw.maxwin))
            && !after(ack, rw.end)
            && !before(ack, rw.end.wrapping_sub(sw.maxwin.max(MIN_ACK_WINDOW)));
        if !in_window {
            if !liberal {
                return Err(if seg == Seg::Rst { Reject::RstOutOfWindow } else { Reject::OutOfWindow });
            }
            if seg != Seg::Rst {
                self.set_state(dir, seg, to);
            }
            return Ok(Accepted::Liberal);
        }
        if seg == Seg::Rst {
            let exact = s.seq == sw.end || (self.wflags[o] & Window::MAXACK != 0 && s.seq == rw.maxack);
            if !exact {
                return Ok(Accepted::RstInexact);
            }
            self.set_state(dir, seg, to);
            return Ok(Accepted::InWindow);
        }
        // A segment past what the receiver was thought to allow: its window was larger.
        if rw.maxwin != 0 && after(end, sw.maxend) {
            self.win[o].maxwin = rw.maxwin.wrapping_add(end.wrapping_sub(sw.maxend));
        }
        let w = &mut self.win[d];
        w.maxwin = w.maxwin.max(win);
        if after(end, w.end) {
            w.end = end;
        }
        if ack_flag {
            self.update_ack(d, o, s.ack, win);
        }
        self.set_state(dir, seg, to);
        Ok(Accepted::InWindow)
    }

    /// Direction `d` acknowledged `ack` with window `win` (scaled): `o` may send up to
    /// `ack + win` (one byte more for a zero window probe).
    fn update_ack(&mut self, d: usize, o: usize, ack: u32, win: u32) {
        if self.wflags[d] & Window::MAXACK == 0 || after(ack, self.win[d].maxack) {
            self.win[d].maxack = ack;
            self.wflags[d] |= Window::MAXACK;
        }
        let r = &mut self.win[o];
        let edge = ack.wrapping_add(win).wrapping_add(u32::from(win == 0));
        if after(edge, r.maxend) {
            r.maxend = edge;
        }
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
            [s(S::SynSent), X, s(S::Close), s(S::Close), s(S::Close), X],
            [X, X, s(S::Close), s(S::Close), s(S::Close), X]),
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
        assert_eq!(t.on_segment(O, ACK), Ok(())); // data in flight after the RST
        assert_eq!(t.on_segment(O, FA), Ok(()));
        assert_eq!(t.on_segment(R, SYN), Err(()));
        assert_eq!(t.on_segment(R, SA), Err(()));
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

    // ---- the window check ----

    /// A segment: flags, seq, ack, window, payload length.
    fn sg(flags: u8, seq: u32, ack: u32, win: u16, len: u32) -> Segment {
        Segment { flags, seq, ack, win, len, wscale: None }
    }

    fn syn_ws(flags: u8, seq: u32, ack: u32, win: u16, ws: Option<u8>) -> Segment {
        Segment { wscale: ws, ..sg(flags, seq, ack, win, 0) }
    }

    const ISS_O: u32 = 0xffff_fe00; // Orig's sequence numbers wrap during the tests
    const ISS_R: u32 = 0x1234_5678;

    /// A handshake with window scaling (shift 7 on both sides) and 1000 bytes each way.
    fn tracked() -> TcpTrack {
        let mut t = TcpTrack::new();
        let ok = Ok(Accepted::InWindow);
        assert_eq!(t.track(O, &syn_ws(SYN, ISS_O, 0, 64240, Some(7)), false), ok);
        assert_eq!(t.track(R, &syn_ws(SA, ISS_R, ISS_O.wrapping_add(1), 65160, Some(7)), false), ok);
        assert_eq!(t.track(O, &sg(ACK, ISS_O.wrapping_add(1), ISS_R + 1, 502, 0), false), ok);
        assert_eq!(t.state, S::Established);
        assert_eq!((t.scale(O), t.scale(R)), (7, 7));
        assert_eq!(t.track(O, &sg(PA, ISS_O.wrapping_add(1), ISS_R + 1, 502, 1000), false), ok);
        assert_eq!(t.track(R, &sg(PA, ISS_R + 1, ISS_O.wrapping_add(1001), 509, 1000), false), ok);
        assert_eq!(t.track(O, &sg(ACK, ISS_O.wrapping_add(1001), ISS_R + 1001, 502, 0), false), ok);
        t
    }

    #[test]
    fn segment_from_an_ipv4_packet() {
        // 198.51.100.10:40000 -> 203.0.113.80:80, SYN seq 0x01020304 window 64240, options
        // MSS 1460, NOP, window scale 7, and 3 bytes of data (TCP Fast Open style).
        let mut tcp = vec![
            0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0, 0x70, 0x02, 0xfa, 0xf0, 0, 0, 0, 0, 0x02, 0x04,
            0x05, 0xb4, 0x01, 0x03, 0x03, 0x07, b'a', b'b', b'c',
        ];
        let (src, dst) = (0xc633_640a, 0xcb00_7150);
        crate::wire::tcp::TcpPacket::new_checked(&mut tcp[..]).unwrap().fill_checksum(src, dst);
        let mut ip = vec![0u8; 20];
        crate::wire::Ipv4Repr {
            src,
            dst,
            protocol: 6,
            payload_len: tcp.len() as u16,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
        }
        .emit(&mut ip);
        ip.extend_from_slice(&tcp);
        let want = Segment { flags: SYN, seq: 0x0102_0304, ack: 0, win: 64240, len: 3, wscale: Some(7) };
        assert_eq!(Segment::parse_ipv4(&ip), Some(want));
        assert_eq!(want.end(), 0x0102_0304 + 4);
        // Ethernet padding after the datagram is not payload.
        let mut padded = ip.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(Segment::parse_ipv4(&padded), Some(want));
        // A data offset beyond the segment.
        let mut bad = ip.clone();
        bad[32] = 0xf0;
        assert_eq!(Segment::parse_ipv4(&bad), None);
        assert_eq!(Segment::parse_ipv4(&ip[..30]), None);
    }

    #[test]
    fn windows_follow_the_handshake_and_the_data() {
        let t = tracked();
        let o = t.window(O).unwrap();
        assert_eq!(o.end, ISS_O.wrapping_add(1001));
        assert_eq!(o.maxack, ISS_R + 1001);
        assert_eq!(o.maxwin, 502 << 7);
        // Reply may send up to Orig's last ack plus its scaled window.
        let r = t.window(R).unwrap();
        assert_eq!((r.end, r.maxend, r.maxwin), (ISS_R + 1001, ISS_R + 1001 + (502 << 7), 65160));
        assert_eq!(t.window(O).unwrap().maxend, ISS_O.wrapping_add(1001 + (509 << 7)));
    }

    #[test]
    fn scaling_needs_both_syns_to_offer_it() {
        let mut t = TcpTrack::new();
        t.track(O, &syn_ws(SYN, 1, 0, 1000, Some(7)), false).unwrap();
        t.track(R, &syn_ws(SA, 100, 2, 1000, None), false).unwrap();
        assert_eq!((t.scale(O), t.scale(R)), (0, 0));
        t.track(O, &sg(ACK, 2, 101, 1000, 0), false).unwrap();
        // Orig's window is 1000, unscaled: Reply may send up to 101 + 1000.
        assert_eq!(t.window(R).unwrap().maxend, 1101);
        assert_eq!(t.track(R, &sg(PA, 101, 2, 1000, 1000), false), Ok(Accepted::InWindow));
        assert_eq!(t.track(R, &sg(PA, 1102, 2, 1000, 10), false), Err(Reject::OutOfWindow));
    }

    #[test]
    fn a_rst_outside_the_window_changes_nothing() {
        let t0 = tracked();
        // A spoofed RST from Reply with a sequence number half the space away.
        for (flags, seq) in
            [(RST, ISS_R + 0x8000_0000), (RST | ACK, ISS_R + 1001 + (1 << 24)), (RST, ISS_R.wrapping_sub(1 << 20))]
        {
            let mut t = t0;
            let r = t.track(R, &sg(flags, seq, ISS_O.wrapping_add(1001), 0, 0), false);
            assert_eq!(r, Err(Reject::RstOutOfWindow), "seq {seq:#x}");
            assert_eq!(t, t0);
        }
        // The same from Orig.
        let mut t = t0;
        assert_eq!(t.track(O, &sg(RST, ISS_O.wrapping_add(0x8000_0000), 0, 0, 0), false), Err(Reject::RstOutOfWindow));
        assert_eq!(t, t0);
        // Liberal: let through, still no state change.
        assert_eq!(t.track(R, &sg(RST, ISS_R + 0x8000_0000, 0, 0, 0), true), Ok(Accepted::Liberal));
        assert_eq!(t, t0);
    }

    #[test]
    fn a_rst_in_the_window_closes_only_at_the_exact_sequence_number() {
        let t0 = tracked();
        // In the window but not where Orig expects it: passes (Orig answers with a challenge
        // ACK), the state is kept.
        let mut t = t0;
        assert_eq!(t.track(R, &sg(RST, ISS_R + 1001 + 5000, 0, 0, 0), false), Ok(Accepted::RstInexact));
        assert_eq!(t, t0);
        // The challenge ACK passes, and the real peer's answer (seq = the ack) closes.
        assert_eq!(t.track(O, &sg(ACK, ISS_O.wrapping_add(1001), ISS_R + 1001, 502, 0), false), Ok(Accepted::InWindow));
        assert_eq!(t.track(R, &sg(RST, ISS_R + 1001, 0, 0, 0), false), Ok(Accepted::InWindow));
        assert_eq!(t.state, S::Close);
        // Orig's own RST at its next sequence number closes too.
        let mut t = t0;
        assert_eq!(
            t.track(O, &sg(RST | ACK, ISS_O.wrapping_add(1001), ISS_R + 1001, 0, 0), false),
            Ok(Accepted::InWindow)
        );
        assert_eq!(t.state, S::Close);
        // Data in flight when the RST was sent passes in Close; data outside the window not.
        assert_eq!(
            t.track(R, &sg(PA, ISS_R + 1001, ISS_O.wrapping_add(1001), 509, 500), false),
            Ok(Accepted::InWindow)
        );
        assert_eq!(t.track(O, &sg(ACK, ISS_O.wrapping_add(1001), ISS_R + 1501, 0, 0), false), Ok(Accepted::InWindow));
        assert_eq!(
            t.track(R, &sg(PA, ISS_R + 0x4000_0000, ISS_O.wrapping_add(1001), 509, 10), false),
            Err(Reject::OutOfWindow)
        );
        assert_eq!(t.state, S::Close);
    }

    #[test]
    fn segments_outside_the_window() {
        let t0 = tracked();
        let o_next = ISS_O.wrapping_add(1001);
        for (dir, seg) in [
            // beyond what Reply allowed (its window 509 << 7 after its ack)
            (O, sg(PA, o_next.wrapping_add((509 << 7) + 1), ISS_R + 1001, 502, 10)),
            // older than a window
            (R, sg(PA, ISS_R.wrapping_sub(1 << 20), o_next, 509, 10)),
            // acknowledges data Orig never sent
            (R, sg(ACK, ISS_R + 1001, o_next.wrapping_add(1), 509, 0)),
            // acknowledges something far older than a window
            (R, sg(ACK, ISS_R + 1001, o_next.wrapping_sub(1 << 20), 509, 0)),
            (O, sg(FA, o_next.wrapping_add(1 << 30), ISS_R + 1001, 502, 0)),
        ] {
            let mut t = t0;
            assert_eq!(t.track(dir, &seg, false), Err(Reject::OutOfWindow), "{dir:?} {seg:?}");
            assert_eq!(t, t0);
            // Liberal lets it through and moves the state by the flags, the windows untouched.
            assert_eq!(t.track(dir, &seg, true), Ok(Accepted::Liberal));
            assert_eq!(t.window(O), t0.window(O));
            assert_eq!(t.window(R), t0.window(R));
        }
        // Retransmissions, keepalives and a zero-window probe are in the window.
        let mut t = t0;
        for (dir, seg) in [
            (O, sg(PA, ISS_O.wrapping_add(1), ISS_R + 1001, 502, 1000)),
            (O, sg(ACK, o_next.wrapping_sub(1), ISS_R + 1001, 502, 0)),
            (R, sg(ACK, ISS_R + 1001, o_next, 0, 0)),
        ] {
            assert_eq!(t.track(dir, &seg, false), Ok(Accepted::InWindow), "{dir:?} {seg:?}");
        }
        // After Reply's zero window Orig may still send (the right edge never moves back).
        assert_eq!(t.track(O, &sg(PA, o_next, ISS_R + 1001, 502, 1), false), Ok(Accepted::InWindow));
    }

    #[test]
    fn rst_in_syn_sent_must_acknowledge_the_syn() {
        let mut t = TcpTrack::new();
        t.track(O, &syn_ws(SYN, 1000, 0, 64240, Some(7)), false).unwrap();
        let t0 = t;
        for seg in [sg(RST, 0, 0, 0, 0), sg(RST | ACK, 0, 1000, 0, 0), sg(RST | ACK, 0, 5000, 0, 0)] {
            assert_eq!(t.track(R, &seg, false), Err(Reject::RstOutOfWindow), "{seg:?}");
            assert_eq!(t, t0);
        }
        // A SYN-ACK that acknowledges something else is outside the window.
        assert_eq!(t.track(R, &syn_ws(SA, 9, 77_000_000, 100, None), false), Err(Reject::OutOfWindow));
        assert_eq!(t.track(R, &sg(RST | ACK, 0, 1001, 0, 0), false), Ok(Accepted::InWindow));
        assert_eq!(t.state, S::Close);
        // The tuple reused: a new SYN starts both windows over.
        t.track(O, &syn_ws(SYN, 0x9000_0000, 0, 64240, None), false).unwrap();
        assert_eq!(t.state, S::SynSent);
        assert_eq!(t.window(R), None);
        assert_eq!(t.window(O).unwrap().end, 0x9000_0001);
    }

    #[test]
    fn simultaneous_open_with_windows() {
        let mut t = TcpTrack::new();
        let ok = Ok(Accepted::InWindow);
        assert_eq!(t.track(O, &syn_ws(SYN, 10, 0, 1000, Some(2)), false), ok);
        assert_eq!(t.track(R, &syn_ws(SYN, 500, 0, 1000, Some(3)), false), ok);
        assert_eq!(t.state, S::SynSent2);
        assert_eq!(t.track(O, &syn_ws(SA, 10, 501, 1000, Some(2)), false), ok);
        assert_eq!(t.track(R, &syn_ws(SA, 500, 11, 1000, Some(3)), false), ok);
        assert_eq!(t.track(R, &sg(ACK, 501, 11, 1000, 0), false), ok);
        assert_eq!(t.state, S::Established);
        assert_eq!((t.scale(O), t.scale(R)), (2, 3));
    }

    #[test]
    fn picked_up_without_the_handshake_errs_on_the_liberal_side() {
        // A direction first seen mid-stream (no SYN): the largest scale is assumed.
        let mut t = reach(S::Established);
        assert_eq!(t.track(O, &sg(PA, 5000, 9000, 100, 100), false), Ok(Accepted::InWindow));
        assert_eq!(t.scale(O), 14);
        assert_eq!(t.track(R, &sg(PA, 9000, 5100, 100, 1_000_000), false), Ok(Accepted::InWindow));
        assert_eq!(t.track(O, &sg(PA, 5100, 1_009_000, 100, 1000), false), Ok(Accepted::InWindow));
    }
}
