//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).

/// One's complement sum of `data` (not folded, not inverted), continuing from `acc`.
///
/// Adds 32-bit big-endian words into a 64-bit accumulator (no carry can be lost below 2^32
/// words), then folds: the same result as summing 16-bit words (RFC 1071 section 2(B)).
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut wide: u64 = u64::from(acc);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        wide += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    wide += u64::from(u32::from_be_bytes(tail));
    // Fold 64 -> 32 bits keeping the one's complement sum.
    let mut s = (wide & 0xffff_ffff) + (wide >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    let s = s as u32;
    // 32 -> at most 17 bits, still a valid (unfolded) sum for callers that add more.
    (s & 0xffff) + (s >> 16)
}

/// True when the 20 bytes of `h` (an IPv4 header without options) sum to 0xffff, i.e. its
/// checksum verifies. Native-order 32-bit loads: the one's complement sum is the same in
/// either byte order up to a swap of its two bytes (RFC 1071 2(B)), and 0xffff is its own
/// swap, so no byte swaps are needed on the fast path.
#[inline(always)]
pub fn verifies20(h: &[u8; 20]) -> bool {
    let w = |k: usize| u64::from(u32::from_ne_bytes([h[k], h[k + 1], h[k + 2], h[k + 3]]));
    let s = w(0) + w(4) + w(8) + w(12) + w(16);
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = s as u32;
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s == 0xffff
}

/// Folds a 32-bit sum to 16 bits.
#[inline]
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum of `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// Sum of the IPv4 pseudo-header for TCP/UDP.
pub fn pseudo_header(src: u32, dst: u32, proto: u8, len: u16) -> u32 {
    (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + u32::from(proto) + u32::from(len)
}

/// RFC 1624 eqn. 3: the checksum after a 16-bit field changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!csum) + u32::from(!old) + u32::from(new);
    !fold(acc)
}

/// The checksum after a 32-bit field (e.g. an address) changed.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let c = update16(csum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies20_as_the_byte_wise_sum() {
        // Every header of a pseudo-random walk, with its checksum right and then wrong.
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            let mut h = [0u8; 20];
            for b in h.iter_mut() {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *b = (x >> 24) as u8;
            }
            if x & 7 == 0 {
                h[2..].fill(0xff);
            }
            assert_eq!(verifies20(&h), fold(sum(0, &h)) == 0xffff, "{h:02x?}");
            h[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            assert!(verifies20(&h), "{h:02x?}");
            h[10] ^= 0x01;
            assert!(!verifies20(&h), "{h:02x?}");
        }
        assert!(!verifies20(&[0; 20]), "all zero sums to zero, not 0xffff");
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &d)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
        assert_eq!(fold(sum(0, &[0x12])), 0x1200, "odd byte padded");
        assert_eq!(fold(sum(0, &[0x12, 0x34, 0x56])), 0x6834);
        assert_eq!(fold(sum(0xffff, &[0xff, 0xff])), 0xffff);
        // against a plain 16-bit reference on many lengths
        let data: Vec<u8> = (0..301u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in 0..data.len() {
            let mut r: u32 = 0x1234;
            for c in data[..n].chunks(2) {
                r += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            assert_eq!(fold(sum(0x1234, &data[..n])), fold(r), "{n}");
        }
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let mut d = [0u8; 20];
            for (i, b) in d.iter_mut().enumerate() {
                *b = (x >> (i % 4 * 8)) as u8 ^ i as u8;
            }
            d[10] = 0;
            d[11] = 0;
            let c = checksum(&d);
            let old = u16::from_be_bytes([d[8], d[9]]);
            let new = (x >> 7) as u16;
            d[8..10].copy_from_slice(&new.to_be_bytes());
            let c2 = update16(c, old, new);
            // Either representation of zero (0x0000/0xffff) verifies the same.
            let full = checksum(&d);
            assert!(c2 == full || (c2 == 0xffff && full == 0) || (c2 == 0 && full == 0xffff), "{c2:#x} {full:#x}");
            let olda = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
            let newa = x.rotate_left(9);
            d[12..16].copy_from_slice(&newa.to_be_bytes());
            let c3 = update32(c2, olda, newa);
            let full = checksum(&d);
            assert!(c3 == full || (c3 == 0xffff && full == 0) || (c3 == 0 && full == 0xffff));
        }
    }
}
