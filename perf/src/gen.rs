//! The traffic generator as a process of its own, the way operators attach pktgen or TRex:
//! a DPDK primary with `net_virtio_user` ports on vnfd's `net_vhost` sockets, generating on
//! the main lcore while vnfd's worker runs on the other core.
//!
//! A trial sends the prepared frames of each direction at a paced rate for a duration, then
//! keeps receiving until the device is drained, and counts per direction what was offered
//! and what came back. Frames carry a 12-byte stamp at their end (the end survives every
//! scenario's header pushes and pops):
//!
//! ```text
//!   0xa5 | trial id | TSC at tx (8 bytes, LE) | compensation word
//! ```
//!
//! The compensation word keeps the 16-bit one's complement sum of those bytes what it was
//! in the template, so the UDP checksum computed over the template stays valid for every
//! stamp. Frames of an earlier trial (other id) that arrive
//! late are counted apart, not as received.
//!
//! A frame the generator's tx queue refuses counts as offered and lost: with a NIC as the
//! generator's port it would have been the device's rx miss.

use crate::frame::{delivered_key, flow_hash, Hosts};
use crate::rfc2544::TrialResult;
use hdrhistogram::Histogram;
use pipelines::dpdk::{rdtsc, tsc_hz, Burst, Mbuf, Mempool, Port, PortConf, RxQueue, TxQueue};
use std::time::{Duration, Instant};
use vnf_core::buf::PacketBuf;

/// Descriptors of each of the generator's rx and tx queues.
pub const DESC: u16 = 4096;

/// Mbufs the generator's pool needs for `ports` ports of `queues` queue pairs: every rx ring
/// full (the PMD refills them from the pool), every tx ring full (virtio frees what the other
/// side consumed only when that queue transmits again), and room for the bursts in hand and
/// the lcore cache. A pool any smaller can be emptied by the rings alone, and the generator
/// then stops: nothing to send, so nothing a tx queue holds is ever freed.
pub fn pool_size(ports: usize, queues: u16) -> u32 {
    (ports as u32 * u32::from(queues) * 2 * u32::from(DESC) + 8192).max(32767)
}

/// Bytes of the stamp at the end of every frame.
pub const STAMP: usize = 12;
const MAGIC: u8 = 0xa5;

/// IMIX as CSIT's "IMIX_v4_1": 7 : 4 : 1 frames of 64, 570 and 1518 bytes, interleaved.
pub const IMIX: [usize; 12] = [64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 570, 64];

/// Frame sizes to send: one size or IMIX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Every frame this long on the wire (FCS included).
    Fixed(usize),
    /// [`IMIX`].
    Imix,
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        if s.eq_ignore_ascii_case("imix") {
            return Ok(Size::Imix);
        }
        match s.parse::<usize>() {
            Ok(n) if (64..=1518).contains(&n) => Ok(Size::Fixed(n)),
            _ => Err(format!("frame size {s:?}: a length in 64..=1518 or \"imix\"")),
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Fixed(n) => write!(f, "{n}"),
            Size::Imix => write!(f, "imix"),
        }
    }
}

impl Size {
    /// The wire lengths in the order they are sent.
    pub fn pattern(&self) -> Vec<usize> {
        match self {
            Size::Fixed(n) => vec![*n],
            Size::Imix => IMIX.to_vec(),
        }
    }

    /// Mean wire length (FCS included).
    pub fn mean(&self) -> f64 {
        let p = self.pattern();
        p.iter().sum::<usize>() as f64 / p.len() as f64
    }
}

/// Interleaves per-size frame lists (`by_size[k]` holds one frame per flow, all of
/// `sizes[k]` bytes): flow after flow, each sending the sizes in `pattern`'s order, so every
/// flow sends every size in the mix's proportions.
pub fn interleave(sizes: &[usize], by_size: &[Vec<Vec<u8>>], pattern: &[usize]) -> Vec<Vec<u8>> {
    let flows = by_size.first().map_or(0, Vec::len);
    let order: Vec<usize> = pattern.iter().filter_map(|want| sizes.iter().position(|s| s == want)).collect();
    (0..flows).flat_map(|f| order.iter().map(move |&k| by_size[k][f].clone())).collect()
}

/// One's complement sum of the big-endian 16-bit words of `b` (even length), folded.
fn ones_sum(b: &[u8]) -> u32 {
    let mut sum: u32 = b.chunks_exact(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// Writes the stamp over the last [`STAMP`] bytes of `frame` (a copy of a template), with
/// the compensation word chosen so those bytes sum (one's complement) to what the
/// template's did: every checksum covering them stays valid.
#[inline(always)]
pub fn stamp(frame: &mut [u8], trial: u8, tsc: u64) {
    let n = frame.len();
    let s = &mut frame[n - STAMP..];
    let before = ones_sum(s);
    s[0] = MAGIC;
    s[1] = trial;
    s[2..10].copy_from_slice(&tsc.to_le_bytes());
    // comp = before - sum(new words) in one's complement arithmetic.
    let mut c = before + (!(ones_sum(&s[..10]) as u16) as u32);
    while c > 0xffff {
        c = (c & 0xffff) + (c >> 16);
    }
    s[10..12].copy_from_slice(&(c as u16).to_be_bytes());
}

/// The (trial id, TSC) of a stamped frame, if it carries a stamp.
#[inline(always)]
pub fn read_stamp(frame: &[u8]) -> Option<(u8, u64)> {
    let n = frame.len();
    if n < STAMP + 14 {
        return None;
    }
    let s = &frame[n - STAMP..];
    if s[0] != MAGIC {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&s[2..10]);
    Some((s[1], u64::from_le_bytes(t)))
}

/// One direction of a trial: frames from `tx` port, expected back on `rx` port.
#[derive(Clone, Debug)]
pub struct Direction {
    /// Name in reports ("gen->sink").
    pub name: String,
    /// Index of the generator port that sends.
    pub tx: usize,
    /// Index of the generator port that receives.
    pub rx: usize,
    /// The frames per tx queue (a flow's frames all go to one queue, by [`flow_hash`]),
    /// sent in order and over again (their last [`STAMP`] bytes are overwritten).
    pub queues: Vec<Vec<Vec<u8>>>,
    /// The hosts the frames come from: the `tx` port answers ARP for them.
    pub hosts: Hosts,
}

impl Direction {
    /// A direction sending `frames` over `queues` tx queues of port `tx`.
    pub fn new(name: &str, tx: usize, rx: usize, frames: &[Vec<u8>], queues: usize) -> Direction {
        let mut by_q = vec![Vec::new(); queues.max(1)];
        for f in frames {
            by_q[flow_hash(f) as usize % queues.max(1)].push(f.clone());
        }
        by_q.retain(|q| !q.is_empty());
        Direction { name: name.into(), tx, rx, queues: by_q, hosts: Hosts::of(frames) }
    }
}

/// What one direction of a trial gave.
#[derive(Clone, Debug)]
pub struct DirResult {
    /// Offered, received and offered rate.
    pub result: TrialResult,
    /// Frames the tx queue refused (part of the offered, lost).
    pub refused: u64,
    /// Frames of an earlier trial that arrived during this one.
    pub late: u64,
    /// Frames without a stamp (not from this generator).
    pub foreign: u64,
    /// One-way latency in ns of the stamped frames (when asked for).
    pub latency: Option<Histogram<u64>>,
}

/// The generator: its ports, queues and mbuf pool.
pub struct Generator<'p> {
    ports: Vec<Port>,
    rx: Vec<Vec<RxQueue>>,
    tx: Vec<Vec<TxQueue>>,
    pool: &'p Mempool,
    trial: u8,
    /// ARP requests answered so far.
    pub arp_replies: u64,
    /// With `Some((n, frames))`, the next trial keeps a copy of each distinct frame (by
    /// [`delivered_key`]) its first direction receives, in arrival order, up to `n`.
    pub capture: Option<(usize, Vec<Vec<u8>>)>,
}

impl<'p> Generator<'p> {
    /// Probes, configures and starts one port per devargs with `queues` rx and tx queues
    /// (EAL must be up), then waits up to `wait` for every link to come up.
    pub fn new(devargs: &[String], queues: u16, pool: &'p Mempool, wait: Duration) -> Result<Generator<'p>, String> {
        let need = pool_size(devargs.len(), queues);
        if pool.size() < need {
            return Err(format!(
                "generator pool of {} mbufs: {} ports x {queues} queues of {DESC} rx and tx descriptors need {need}",
                pool.size(),
                devargs.len()
            ));
        }
        let mut g = Generator { ports: vec![], rx: vec![], tx: vec![], pool, trial: 0, arp_replies: 0, capture: None };
        for d in devargs {
            let mut p = Port::probe(d).map_err(|e| e.to_string())?;
            let conf = PortConf {
                rx_queues: queues,
                tx_queues: queues,
                rx_desc: DESC,
                tx_desc: DESC,
                mtu: None,
                mac: None,
                promiscuous: true,
            };
            p.configure(&conf, g.pool).map_err(|e| e.to_string())?;
            p.start().map_err(|e| e.to_string())?;
            let rx = (0..queues).map(|q| p.take_rx_queue(q).ok_or(format!("rx queue {q} taken")));
            g.rx.push(rx.collect::<Result<_, _>>()?);
            let tx = (0..queues).map(|q| p.take_tx_queue(q).ok_or(format!("tx queue {q} taken")));
            g.tx.push(tx.collect::<Result<_, _>>()?);
            g.ports.push(p);
        }
        let until = Instant::now() + wait;
        while !g.ports.iter().all(|p| p.link().up) {
            if Instant::now() > until {
                let down: Vec<&str> = g.ports.iter().filter(|p| !p.link().up).map(|p| p.name()).collect();
                return Err(format!("generator ports {down:?}: link still down after {wait:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(g)
    }

    /// Frees what is waiting on the rx queues (frames of a previous vnfd, or of start-up).
    pub fn drain(&mut self) -> u64 {
        let mut b = Burst::default();
        let mut n = 0;
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            for q in self.rx.iter().flatten() {
                n += q.rx(&mut b, 32) as u64;
                b.free_all();
            }
        }
        n
    }

    /// Runs one trial: `dirs` together at `rate_pps` frames per second in total (split evenly;
    /// 0: as fast as the tx queues take them) for `secs`, then receives until nothing came for
    /// 10 ms (at most 200 ms). With `latency`, every stamped frame's one-way delay is recorded.
    /// ARP requests for a direction's hosts are answered on its tx port throughout.
    pub fn trial(&mut self, dirs: &[Direction], rate_pps: f64, secs: f64, latency: bool) -> Vec<DirResult> {
        self.trial = self.trial.wrapping_add(1);
        let id = self.trial;
        let hz = tsc_hz().max(1);
        let per_dir = rate_pps / dirs.len().max(1) as f64;
        let mut res: Vec<DirResult> = dirs
            .iter()
            .map(|_| DirResult {
                result: TrialResult::default(),
                refused: 0,
                late: 0,
                foreign: 0,
                latency: latency.then(|| Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")),
            })
            .collect();
        // Which direction a port's received frames belong to, and whose hosts it answers for.
        let mut by_rx = vec![usize::MAX; self.ports.len()];
        let mut hosts: Vec<Option<&Hosts>> = vec![None; self.ports.len()];
        for (i, d) in dirs.iter().enumerate() {
            by_rx[d.rx] = i;
            hosts[d.tx] = Some(&d.hosts);
        }
        let mut capture = self.capture.take();
        let mut seen = std::collections::HashSet::new();
        let mut arp_replies = 0u64;
        // Per direction: the next queue to send on, and each queue's next frame.
        let mut next_q = vec![0usize; dirs.len()];
        let mut next: Vec<Vec<usize>> = dirs.iter().map(|d| vec![0; d.queues.len()]).collect();
        let mut burst = Burst::default();
        let mut inb = Burst::default();
        let start = rdtsc();
        let end = start + (secs * hz as f64) as u64;
        let ns_per_tick = 1e9 / hz as f64;
        let (rxq, txq, pool) = (&self.rx, &self.tx, self.pool);
        let mut rx_all = |inb: &mut Burst, res: &mut Vec<DirResult>, now: u64| -> usize {
            let mut got = 0;
            for (p, qs) in rxq.iter().enumerate() {
                for q in qs {
                    let n = q.rx(inb, 32);
                    if n == 0 {
                        continue;
                    }
                    got += n;
                    let dir = by_rx[p];
                    let mut replies = Burst::default();
                    for m in inb.mbufs() {
                        let data = m.data();
                        let st = read_stamp(data);
                        if st.is_none() {
                            if let Some(a) = hosts[p].and_then(|h| h.arp_reply(data)) {
                                if let Some(m) = Mbuf::from_bytes(pool, &a) {
                                    let _ = replies.push(m);
                                }
                                continue;
                            }
                        }
                        let Some(r) = res.get_mut(dir) else { continue };
                        match st {
                            Some((t, tsc)) if t == id => {
                                r.result.received += 1;
                                if let Some(h) = r.latency.as_mut() {
                                    let _ = h.record(((now.saturating_sub(tsc)) as f64 * ns_per_tick) as u64);
                                }
                                if let Some((max, c)) = capture.as_mut() {
                                    if dir == 0 && c.len() < *max && seen.insert(delivered_key(data, STAMP)) {
                                        c.push(data.to_vec());
                                    }
                                }
                            }
                            Some(_) => r.late += 1,
                            None => r.foreign += 1,
                        }
                    }
                    inb.free_all();
                    if !replies.is_empty() {
                        arp_replies += txq[p][0].tx(&mut replies) as u64;
                        replies.free_all();
                    }
                }
            }
            got
        };
        loop {
            let now = rdtsc();
            if now >= end {
                break;
            }
            for (i, d) in dirs.iter().enumerate() {
                let due = if per_dir > 0.0 {
                    let target = ((now - start) as f64 / hz as f64 * per_dir) as u64;
                    target.saturating_sub(res[i].result.offered).min(32) as usize
                } else {
                    32
                };
                if due == 0 || d.queues.is_empty() {
                    continue;
                }
                // Bursts take turns over the queues (a NIC's RSS spreads flows the same way).
                let q = next_q[i];
                next_q[i] = (q + 1) % d.queues.len();
                let frames = &d.queues[q];
                let at = &mut next[i][q];
                // The burst's mbufs in one bulk get, then filled: an allocation per frame
                // was a mempool call per frame on the generator's one core.
                if !burst.alloc_from(pool, due) {
                    // Fewer left in the pool than the burst: one at a time, what there is.
                    while burst.len() < due {
                        let Some(m) = Mbuf::alloc(pool) else { break };
                        if burst.push(m).is_err() {
                            break;
                        }
                    }
                }
                let mut filled = 0;
                for m in burst.mbufs_mut() {
                    let f = &frames[*at];
                    let Some(b) = m.append(f.len()) else { break };
                    b.copy_from_slice(f);
                    stamp(m.data_mut(), id, now);
                    *at = if *at + 1 == frames.len() { 0 } else { *at + 1 };
                    filled += 1;
                }
                while burst.len() > filled {
                    drop(burst.pop());
                }
                let n = burst.len() as u64;
                let sent = txq[d.tx][q % txq[d.tx].len()].tx(&mut burst) as u64;
                res[i].result.offered += n;
                res[i].refused += n - sent;
                burst.free_all();
            }
            rx_all(&mut inb, &mut res, now);
        }
        let elapsed = (rdtsc() - start) as f64 / hz as f64;
        // Drain: until 10 ms pass with nothing received, at most 200 ms.
        let drain_end = Instant::now() + Duration::from_millis(200);
        let mut quiet = Instant::now();
        while Instant::now() < drain_end && quiet.elapsed() < Duration::from_millis(10) {
            if rx_all(&mut inb, &mut res, rdtsc()) > 0 {
                quiet = Instant::now();
            }
        }
        for r in &mut res {
            r.result.offered_pps = r.result.offered as f64 / elapsed.max(1e-9);
        }
        self.capture = capture;
        self.arp_replies += arp_replies;
        res
    }

    /// Mbufs of the pool not in it (in rx rings or leaked): after a drained trial only the
    /// rx rings' share.
    pub fn in_use(&self) -> u32 {
        self.pool.in_use()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_keeps_the_udp_checksum_of_the_template_valid() {
        let set = vnf_core::gen::FlowSet { flows: 3, wire_len: 64, ..Default::default() };
        for (i, f) in set.frames().into_iter().enumerate() {
            // The stamp lies in the UDP payload of every template; their checksums are valid.
            assert!(f.len() - STAMP >= 42);
            let ok = |f: &[u8]| {
                let ip = &f[14..34];
                let udp = &f[34..];
                let pseudo = [&ip[12..20], &[0, 17][..], &(udp.len() as u16).to_be_bytes()[..]].concat();
                vnf_core::gen::checksum(&[&pseudo, udp]) == 0
            };
            assert!(ok(&f), "template {i}");
            let mut s = f.clone();
            for (trial, tsc) in [(1u8, 0u64), (7, 0x0123_4567_89ab_cdef), (255, u64::MAX), (2, 1 << 40)] {
                stamp(&mut s, trial, tsc);
                assert!(ok(&s), "flow {i} trial {trial} tsc {tsc:#x}");
                assert_eq!(read_stamp(&s), Some((trial, tsc)));
                assert_eq!(s[..s.len() - STAMP], f[..f.len() - STAMP]);
            }
        }
    }

    #[test]
    fn a_frame_without_the_magic_has_no_stamp() {
        assert_eq!(read_stamp(&[0u8; 60]), None);
        assert_eq!(read_stamp(&[MAGIC; 20]), None);
    }

    #[test]
    fn imix_is_7_4_1_and_every_flow_sends_every_size() {
        let p = Size::Imix.pattern();
        let count = |n| p.iter().filter(|&&x| x == n).count();
        assert_eq!((count(64), count(570), count(1518)), (7, 4, 1));
        assert!((Size::Imix.mean() - (7.0 * 64.0 + 4.0 * 570.0 + 1518.0) / 12.0).abs() < 1e-9);
        assert_eq!("imix".parse::<Size>(), Ok(Size::Imix));
        assert_eq!("1518".parse::<Size>(), Ok(Size::Fixed(1518)));
        assert!("63".parse::<Size>().is_err());
        let by = vec![vec![vec![1u8], vec![2]], vec![vec![10u8], vec![20]]];
        let got = interleave(&[64, 570], &by, &[64, 570, 64]);
        assert_eq!(got, vec![vec![1], vec![10], vec![1], vec![2], vec![20], vec![2]]);
    }
}
