//! Fragments through conntrack and NAT (RFC 4787 REQ-14): the first fragment decides, the
//! others follow it, in or out of order; byte-exact on VecBufs.

use super::nat_tests::{cfg, from_in, from_out, to_in, to_out, udp, H, IP_H, IP_P, IP_S, S};
use super::router_tests::pieces;
use super::tests::{tx, Action, Rig};
use super::*;

fn rig() -> Rig {
    Rig::with_config(&cfg(), 1000)
}

#[test]
fn fragments_cross_the_nat_in_and_out_of_order() {
    let mut r = rig();
    let data: Vec<u8> = (0..2992).map(|i| (i % 253) as u8).collect();
    // 3000 bytes of UDP from H, in three fragments; the last two come first
    let inside = pieces(&udp(IP_H, 6000, IP_S, 53, &data, 64), &[0, 1480, 2960]);
    assert!(r.run(0, &from_in(H, &inside[2])).is_empty(), "waits for its first fragment");
    assert!(r.run(0, &from_in(H, &inside[1])).is_empty());
    let out = tx(&r.run(0, &from_in(H, &inside[0])));
    // each leaves translated as the whole datagram would be: from the pool address, the
    // first fragment with its port and its UDP checksum (over the whole datagram) updated
    let outside = pieces(&udp(IP_P, 6000, IP_S, 53, &data, 63), &[0, 1480, 2960]);
    let want: Vec<(u16, Vec<u8>)> = [0, 2, 1].iter().map(|&k| (1, to_out(S, &outside[k]))).collect();
    assert_eq!(out, want, "the first, then the two that waited, in the order they came");
    assert!(r.events().contains(&("ct-frag-followed", 2)));
    assert!(r.st.frags.is_empty(), "the datagram passed whole: forgotten");

    // the answer, fragmented by S, comes back to H (in order this time)
    let answer = pieces(&udp(IP_S, 53, IP_P, 6000, &data, 64), &[0, 1480, 2960]);
    let back = pieces(&udp(IP_S, 53, IP_H, 6000, &data, 63), &[0, 1480, 2960]);
    for k in 0..3 {
        assert_eq!(tx(&r.run(1, &from_out(S, &answer[k]))), vec![(0, to_in(H, &back[k]))], "fragment {k}");
    }
    assert!(r.drops().is_empty(), "{:?}", r.drops());
}

#[test]
fn fragments_whose_first_never_comes_are_dropped_in_time() {
    let mut r = rig();
    let data = vec![1u8; 2000];
    let inside = pieces(&udp(IP_H, 6001, IP_S, 53, &data, 64), &[0, 1480]);
    assert!(r.run(0, &from_in(H, &inside[1])).is_empty());
    assert!(r.tick(29_000).is_empty());
    let out = r.tick(1_000);
    assert_eq!(out, vec![(from_in(H, &inside[1]), Action::Drop(DropReason::CtFragTimeout))]);
    // off: fragments are dropped as before
    let mut r = Rig::with_config(&cfg().replace("[conntrack]", "[conntrack]\nfragments = 0"), 1000);
    let f = from_in(H, &inside[0]);
    assert_eq!(r.run(0, &f), vec![(f.clone(), Action::Drop(DropReason::CtFragment))]);
}

#[test]
fn a_first_fragment_the_firewall_drops_leaves_the_next_frames_first_fragment_alone() {
    let mut r = rig();
    let data = vec![3u8; 2000];
    // to the address the firewall drops UDP for: the first fragment is dropped there
    let denied = pieces(&udp(IP_H, 6002, 0xcb00_7163, 7, &data, 64), &[0, 1480]);
    let f = from_in(H, &denied[0]);
    assert_eq!(r.run(0, &f), vec![(f.clone(), Action::Drop(DropReason::FwDrop))]);
    assert!(r.run(0, &from_in(H, &denied[1])).is_empty(), "waits: nothing tells it its first was dropped");
    // the next frame's first fragment, in the same slot, is a first fragment like any
    let ok = pieces(&udp(IP_H, 6003, IP_S, 53, &data, 64), &[0, 1480]);
    let out = tx(&r.run(0, &from_in(H, &ok[0])));
    let outside = pieces(&udp(IP_P, 6003, IP_S, 53, &data, 63), &[0, 1480]);
    assert_eq!(out, vec![(1, to_out(S, &outside[0]))]);
    assert_eq!(tx(&r.run(0, &from_in(H, &ok[1]))), vec![(1, to_out(S, &outside[1]))]);
    // the denied datagram's follower goes when its time is up
    let out = r.tick(30_000);
    assert_eq!(out, vec![(from_in(H, &denied[1]), Action::Drop(DropReason::CtFragTimeout))]);
}
