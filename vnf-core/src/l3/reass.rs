//! IPv4 reassembly for datagrams addressed to the appliance itself (RFC 791 3.2, RFC 1122
//! 3.3.2, RFC 1812 4.2.2.8): a worker's fixed set of contexts, each holding one datagram's
//! bytes as they come.
//!
//! # Model
//!
//! A context is keyed by (source, destination, protocol, identification) and owns a
//! buffer of the largest IPv4 datagram (65 535 bytes) plus a bitmap of the 8-byte blocks
//! received. [`Reassembly::add`] copies a fragment's payload into place (the caller frees the
//! fragment's buffer right away: no packet buffer is ever held here) and keeps the header of
//! fragment zero. The datagram is complete when the last fragment (MF clear) fixed its length
//! and every block up to it arrived; [`Reassembly::datagram`] then gives header and payload
//! contiguous, and [`Reassembly::release`] frees the context.
//!
//! # Invariants and limits
//!
//! * All memory is allocated by [`Reassembly::new`]: `contexts` buffers, never more.
//! * When every context is busy a fragment of a new datagram is refused
//!   ([`ReassDrop::TableFull`]); contexts are not evicted for newcomers (as Linux refuses
//!   fragments above its memory threshold), so a flood of incomplete datagrams costs at most
//!   the timeout.
//! * Overlapping fragments (any block received twice, RFC 5722's rule, which Linux applies to
//!   IPv4 as well) discard the whole datagram ([`ReassDrop::Overlap`]); so do a fragment
//!   that ends past 65 535 bytes, a non-final fragment whose length is not a multiple of 8,
//!   and a second final fragment that disagrees on the length ([`ReassDrop::Invalid`]).
//! * A context not completed within `timeout_ms` of its first fragment is discarded by
//!   [`Reassembly::poll`], which reports whether fragment zero had arrived (RFC 1122
//!   3.3.2: the sender then gets ICMP time exceeded, code 1).
//!
//! Contexts are found by a linear scan: there are few (tens), and a scan cannot be aimed at
//! by chosen keys the way a hash chain can.

/// The largest IPv4 datagram.
pub const MAX_DATAGRAM: usize = 65_535;
/// The largest IPv4 header.
const MAX_HEADER: usize = 60;
/// 8-byte blocks of a datagram's payload, and the bitmap words that cover them.
const BLOCKS: usize = MAX_DATAGRAM.div_ceil(8);
const WORDS: usize = BLOCKS.div_ceil(64);

/// Sizes and timer of a [`Reassembly`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassConfig {
    /// Datagrams reassembled at once per worker (each takes 64 KiB).
    pub contexts: usize,
    /// How long an incomplete datagram is kept after its first fragment.
    pub timeout_ms: u64,
}

impl Default for ReassConfig {
    fn default() -> Self {
        // Linux: ipfrag_time 30 s.
        ReassConfig { contexts: 16, timeout_ms: 30_000 }
    }
}

/// A fragment's identity: the datagram it belongs to (RFC 791).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragKey {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Protocol.
    pub proto: u8,
    /// Identification.
    pub ident: u16,
}

/// Where the fragments came from: what an ICMP error about the datagram goes back through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragFrom {
    /// Ingress port.
    pub port: u16,
    /// Ingress domain.
    pub domain: u16,
    /// The sender's (previous hop's) MAC as a u64.
    pub mac: u64,
    /// The remote VTEP the fragments came from inside the overlay (0: not from it).
    pub vtep: u32,
}

/// Why a fragment was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReassDrop {
    /// Every context is in use.
    TableFull,
    /// The fragment overlaps one already received: the datagram is discarded.
    Overlap,
    /// Past the largest datagram, a non-final length not a multiple of 8, or a final
    /// fragment that contradicts an earlier one: the datagram is discarded.
    Invalid,
}

/// A datagram [`Reassembly::poll`] gave up on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired {
    /// Where its fragments came from.
    pub from: FragFrom,
    /// Fragment zero's header and the first 8 bytes of payload (what an ICMP error quotes),
    /// when fragment zero had arrived.
    pub quote: Option<([u8; MAX_HEADER + 8], usize)>,
}

struct Ctx {
    key: Option<FragKey>,
    from: FragFrom,
    deadline_ms: u64,
    /// Fragment zero's header (length 0 until it arrives), kept just before the payload.
    hl: usize,
    /// Payload length, once the final fragment arrived.
    total: Option<usize>,
    /// Payload bytes received.
    got: usize,
    have: Box<[u64; WORDS]>,
    /// Header room then payload: `buf[MAX_HEADER - hl..MAX_HEADER + total]` is the datagram.
    buf: Box<[u8]>,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            key: None,
            from: FragFrom::default(),
            deadline_ms: 0,
            hl: 0,
            total: None,
            got: 0,
            have: Box::new([0; WORDS]),
            buf: vec![0; MAX_HEADER + MAX_DATAGRAM].into_boxed_slice(),
        }
    }

    fn clear(&mut self) {
        if self.key.take().is_some() {
            self.have.fill(0);
        }
        self.hl = 0;
        self.total = None;
        self.got = 0;
    }
}

/// A worker's reassembly contexts. See the [module documentation](self).
pub struct Reassembly {
    cfg: ReassConfig,
    ctx: Vec<Ctx>,
}

impl std::fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembly").field("cfg", &self.cfg).field("busy", &self.len()).finish()
    }
}

impl Reassembly {
    /// `cfg.contexts` contexts, all allocated here.
    pub fn new(cfg: ReassConfig) -> Self {
        Reassembly { cfg, ctx: (0..cfg.contexts).map(|_| Ctx::new()).collect() }
    }

    /// The configuration.
    pub fn config(&self) -> ReassConfig {
        self.cfg
    }

    /// Contexts in use.
    pub fn len(&self) -> usize {
        self.ctx.iter().filter(|c| c.key.is_some()).count()
    }

    /// True when no datagram is being reassembled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the fragment at payload offset `offset` (bytes) with more-fragments `more`,
    /// header `header` (only kept from fragment zero) and payload `payload`. Returns the
    /// context's index when the datagram is now complete (read it with
    /// [`Reassembly::datagram`], then [`Reassembly::release`] it), None when it is still
    /// incomplete.
    pub fn add(
        &mut self,
        now_ms: u64,
        key: FragKey,
        from: FragFrom,
        (offset, more): (usize, bool),
        header: &[u8],
        payload: &[u8],
    ) -> Result<Option<usize>, ReassDrop> {
        let idx = match self.ctx.iter().position(|c| c.key == Some(key)) {
            Some(i) => i,
            None => {
                let i = self.ctx.iter().position(|c| c.key.is_none()).ok_or(ReassDrop::TableFull)?;
                let c = &mut self.ctx[i];
                c.key = Some(key);
                c.from = from;
                c.deadline_ms = now_ms.saturating_add(self.cfg.timeout_ms);
                i
            }
        };
        let c = &mut self.ctx[idx];
        let end = offset + payload.len();
        let bad = end > MAX_DATAGRAM - header.len().max(20)
            || (more && !payload.len().is_multiple_of(8))
            || header.len() > MAX_HEADER
            || payload.is_empty() && more
            || c.total.is_some_and(|t| end > t || (!more && end != t));
        if bad {
            c.clear();
            return Err(ReassDrop::Invalid);
        }
        let (first, last) = (offset / 8, end.div_ceil(8));
        if (first..last).any(|b| c.have[b / 64] & (1 << (b % 64)) != 0) {
            c.clear();
            return Err(ReassDrop::Overlap);
        }
        if !more {
            // No block received may lie past the end the final fragment sets.
            let beyond = (last..BLOCKS).any(|b| c.have[b / 64] & (1 << (b % 64)) != 0);
            if beyond {
                c.clear();
                return Err(ReassDrop::Invalid);
            }
            c.total = Some(end);
        }
        for b in first..last {
            c.have[b / 64] |= 1 << (b % 64);
        }
        c.buf[MAX_HEADER + offset..MAX_HEADER + end].copy_from_slice(payload);
        c.got += payload.len();
        if offset == 0 {
            c.hl = header.len();
            c.buf[MAX_HEADER - c.hl..MAX_HEADER].copy_from_slice(header);
            // The datagram's ingress is its first fragment's (where errors go).
            c.from = from;
        }
        Ok((c.total == Some(c.got) && c.hl > 0).then_some(idx))
    }

    /// The complete datagram of context `idx` (fragment zero's header, then the payload),
    /// writable; its header still carries fragment zero's length and flags.
    pub fn datagram(&mut self, idx: usize) -> Option<(&mut [u8], FragFrom)> {
        let c = self.ctx.get_mut(idx)?;
        let total = c.total?;
        let from = c.from;
        Some((&mut c.buf[MAX_HEADER - c.hl..MAX_HEADER + total], from))
    }

    /// Frees context `idx`.
    pub fn release(&mut self, idx: usize) {
        if let Some(c) = self.ctx.get_mut(idx) {
            c.clear();
        }
    }

    /// Discards the datagrams whose time ran out, appending each to `out`.
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<Expired>) {
        for c in &mut self.ctx {
            if c.key.is_some() && now_ms >= c.deadline_ms {
                let quote = (c.hl > 0).then(|| {
                    let n = c.hl + 8.min(c.got);
                    let mut q = [0u8; MAX_HEADER + 8];
                    q[..n].copy_from_slice(&c.buf[MAX_HEADER - c.hl..MAX_HEADER - c.hl + n]);
                    (q, n)
                });
                out.push(Expired { from: c.from, quote });
                c.clear();
            }
        }
    }

    /// Discards every datagram (a reload that changes the limits).
    pub fn clear(&mut self) {
        for c in &mut self.ctx {
            c.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: FragKey = FragKey { src: 1, dst: 2, proto: 1, ident: 7 };
    const H: [u8; 20] = [0x45; 20];

    fn from(port: u16) -> FragFrom {
        FragFrom { port, domain: 0, mac: 9, vtep: 0 }
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram() {
        let mut r = Reassembly::new(ReassConfig { contexts: 2, timeout_ms: 100 });
        let data: Vec<u8> = (0..3000).map(|i| i as u8).collect();
        assert_eq!(r.add(0, K, from(1), (2400, false), &H, &data[2400..]), Ok(None));
        assert_eq!(r.add(0, K, from(1), (1200, true), &H, &data[1200..2400]), Ok(None));
        assert_eq!(r.len(), 1);
        let idx = r.add(0, K, from(3), (0, true), &H, &data[..1200]).unwrap().unwrap();
        let (d, f) = r.datagram(idx).unwrap();
        assert_eq!(&d[..20], &H);
        assert_eq!(&d[20..], &data[..]);
        assert_eq!(f.port, 3, "where fragment zero came from");
        r.release(idx);
        assert!(r.is_empty());
    }

    #[test]
    fn overlaps_and_bad_lengths_discard_the_datagram() {
        let mut r = Reassembly::new(ReassConfig { contexts: 1, timeout_ms: 100 });
        let p = [0u8; 16];
        assert_eq!(r.add(0, K, from(1), (0, true), &H, &p), Ok(None));
        assert_eq!(r.add(0, K, from(1), (8, true), &H, &p), Err(ReassDrop::Overlap));
        assert!(r.is_empty(), "the whole datagram went");
        assert_eq!(r.add(0, K, from(1), (0, true), &H, &p[..12]), Err(ReassDrop::Invalid), "not a multiple of 8");
        assert_eq!(r.add(0, K, from(1), (65_528, false), &H, &p), Err(ReassDrop::Invalid), "past 65535");
        // a final fragment before data already received past it
        assert_eq!(r.add(0, K, from(1), (64, true), &H, &p), Ok(None));
        assert_eq!(r.add(0, K, from(1), (0, false), &H, &p), Err(ReassDrop::Invalid));
        // two finals that disagree
        assert_eq!(r.add(0, K, from(1), (64, false), &H, &p), Ok(None));
        assert_eq!(r.add(0, K, from(1), (96, false), &H, &p), Err(ReassDrop::Invalid));
    }

    #[test]
    fn a_full_table_refuses_newcomers_and_time_frees_it() {
        let mut r = Reassembly::new(ReassConfig { contexts: 1, timeout_ms: 100 });
        let p = [5u8; 16];
        assert_eq!(r.add(10, K, from(1), (0, true), &H, &p), Ok(None));
        let other = FragKey { ident: 8, ..K };
        assert_eq!(r.add(10, other, from(1), (0, true), &H, &p), Err(ReassDrop::TableFull));
        let mut out = vec![];
        r.poll(109, &mut out);
        assert!(out.is_empty());
        r.poll(110, &mut out);
        assert_eq!(out.len(), 1);
        let (q, n) = out[0].quote.unwrap();
        assert_eq!(&q[..n], &[&H[..], &p[..8]].concat()[..], "fragment zero's header and 8 bytes");
        assert_eq!(r.add(111, other, from(1), (0, true), &H, &p), Ok(None));
        // without fragment zero nothing can be quoted
        let mut r = Reassembly::new(ReassConfig { contexts: 1, timeout_ms: 100 });
        assert_eq!(r.add(0, K, from(1), (8, true), &H, &p), Ok(None));
        out.clear();
        r.poll(100, &mut out);
        assert_eq!(out[0].quote, None);
    }
}
