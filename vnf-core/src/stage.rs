//! Stages: functions over a burst of packets that decide each packet's fate.
//!
//! A stage reads and rewrites packets through [`PacketBuf`] and writes one [`Verdict`] per
//! packet; the worker then hands every `Tx` packet to its egress port's tx buffer and frees
//! and counts every `Drop`. The same stage code runs on mbufs in `vnfd` and on [`VecBuf`]s
//! in tests.
//!
//! [`VecBuf`]: crate::buf::VecBuf

use crate::buf::PacketBuf;
use crate::config::Config;
use crate::stats::DropReason;

/// What happens to one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of this port index.
    Tx(u16),
    /// Free it and count it under this reason.
    Drop(DropReason),
}

/// A stage's answer for a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BurstVerdict {
    /// The same verdict for every packet of the burst (the per-packet slots are unused).
    All(Verdict),
    /// Each packet's verdict is in its slot of the verdict array.
    Each,
}

impl BurstVerdict {
    /// The verdict of packet `i`, reading `verdicts` only for [`BurstVerdict::Each`].
    #[inline(always)]
    pub fn of(self, i: usize, verdicts: &[Verdict]) -> Verdict {
        match self {
            BurstVerdict::All(v) => v,
            BurstVerdict::Each => verdicts[i],
        }
    }
}

/// The port cross-connect stage (`xconnect`): every packet received on one port of a pair
/// leaves by the other, untouched. Ports that are not in a pair drop with `no-forward`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xconnect {
    peer: Vec<Option<u16>>,
}

impl Xconnect {
    /// Stage name in counters and traces.
    pub const NAME: &'static str = "xconnect";

    /// Compiles the config's `[[xconnect]]` pairs.
    pub fn new(cfg: &Config) -> Self {
        Xconnect { peer: cfg.xconnect_table().into_iter().map(|p| p.map(|i| i as u16)).collect() }
    }

    /// The verdict for every packet received on `in_port`: the same for the whole burst.
    #[inline]
    pub fn verdict(&self, in_port: u16) -> Verdict {
        match self.peer.get(in_port as usize).copied().flatten() {
            Some(out) => Verdict::Tx(out),
            None => Verdict::Drop(DropReason::NoForward),
        }
    }

    /// Applies the stage to a burst received on `in_port`. Port-based forwarding decides
    /// once per burst, so the answer is [`BurstVerdict::All`] and `verdicts` is not written.
    #[inline]
    pub fn process<B: PacketBuf>(&self, in_port: u16, _pkts: &mut [B], _verdicts: &mut [Verdict]) -> BurstVerdict {
        BurstVerdict::All(self.verdict(in_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::VecBuf;

    #[test]
    fn pairs_forward_both_ways_and_others_drop() {
        let cfg = Config::parse(
            r#"
[[port]]
name = "a"
devargs = "net_null0"
[[port]]
name = "b"
devargs = "net_null1"
[[port]]
name = "c"
devargs = "net_null2"
[[xconnect]]
a = "b"
b = "a"
"#,
            None,
        )
        .unwrap();
        let x = Xconnect::new(&cfg);
        let frame = [0xffu8; 60];
        let mut pkts = vec![VecBuf::new(&frame), VecBuf::new(&frame)];
        let mut v = [Verdict::Drop(DropReason::Malformed); 4];
        let all = |b: BurstVerdict, v: &[Verdict]| (0..2).map(|i| b.of(i, v)).collect::<Vec<_>>();
        let b = x.process(0, &mut pkts, &mut v);
        assert_eq!(b, BurstVerdict::All(Verdict::Tx(1)));
        assert_eq!(all(b, &v), vec![Verdict::Tx(1); 2]);
        assert_eq!(v, [Verdict::Drop(DropReason::Malformed); 4], "per-packet slots untouched");
        assert_eq!(all(x.process(1, &mut pkts, &mut v), &v), vec![Verdict::Tx(0); 2]);
        assert_eq!(all(x.process(2, &mut pkts, &mut v), &v), vec![Verdict::Drop(DropReason::NoForward); 2]);
        assert_eq!(BurstVerdict::Each.of(1, &[Verdict::Tx(3), Verdict::Tx(4)]), Verdict::Tx(4));
        assert_eq!(x.verdict(9), Verdict::Drop(DropReason::NoForward));
        assert_eq!(pkts[0].data(), &frame, "xconnect does not touch the bytes");
    }
}
