//! VF attributes over rtnetlink: `RTM_GETLINK` with `IFLA_EXT_MASK = RTEXT_FILTER_VF` reads
//! `IFLA_VFINFO_LIST`; `RTM_SETLINK` with one `IFLA_VF_INFO` attribute per request sets them,
//! so an attribute the driver refuses is told apart from the others.
//!
//! Messages are built and parsed with `netlink-packet-route` (it models every `IFLA_VF_*`
//! attribute) and sent on a `netlink-sys` socket: both safe, both kept by the rust-netlink
//! project that also backs `rtnetlink`.

use crate::VfLinks;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac, VfInfoRate,
    VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use vnf_core::sriov::{LinkState, VfAttr, VfLink};
use vnf_core::wire::MacAddr;

/// An rtnetlink socket.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink").field("seq", &self.seq).finish()
    }
}

impl Netlink {
    /// Opens and connects a NETLINK_ROUTE socket.
    pub fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { sock, seq: 0 })
    }

    fn ifindex(netdev: &str) -> io::Result<u32> {
        let p = format!("/sys/class/net/{netdev}/ifindex");
        std::fs::read_to_string(&p)
            .map_err(|e| io::Error::new(e.kind(), format!("{p}: {e}")))?
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("{p}: not a number")))
    }

    /// Sends one request and returns the messages answered to it, up to its ACK (or the
    /// NewLink answer of a GETLINK).
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&data[off..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("rtnetlink: {e}")))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                            }
                        }
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::InnerMessage(r) => {
                            let single = flags & NLM_F_ACK == 0;
                            out.push(r);
                            if single {
                                return Ok(out);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }
}

fn mac_of(b: &[u8]) -> MacAddr {
    let mut m = [0; 6];
    m.copy_from_slice(&b[..6]);
    MacAddr(m)
}

fn to_link(info: &LinkVfInfo) -> Option<VfLink> {
    let mut l = VfLink::default();
    let mut index = None;
    for a in &info.0 {
        match a {
            VfInfo::Mac(m) => {
                index = Some(m.vf_id);
                l.mac = mac_of(&m.mac);
            }
            VfInfo::Vlan(v) => (l.vlan, l.qos) = (v.vlan_id as u16, v.qos as u8),
            VfInfo::SpoofCheck(s) => l.spoofchk = Some(s.enabled),
            VfInfo::Trust(t) => l.trust = Some(t.enabled),
            VfInfo::LinkState(s) => {
                l.link_state = match s.state {
                    VfLinkState::Auto => Some(LinkState::Auto),
                    VfLinkState::Enable => Some(LinkState::Enable),
                    VfLinkState::Disable => Some(LinkState::Disable),
                    _ => None,
                }
            }
            VfInfo::Rate(r) => (l.min_tx_rate, l.max_tx_rate) = (r.min_tx_rate, r.max_tx_rate),
            _ => {}
        }
    }
    l.index = u16::try_from(index?).ok()?;
    Some(l)
}

impl VfLinks for Netlink {
    fn vfs(&mut self, pf_netdev: &str) -> io::Result<Vec<VfLink>> {
        let mut m = LinkMessage::default();
        m.header.index = Self::ifindex(pf_netdev)?;
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        let answers = self.request(RouteNetlinkMessage::GetLink(m), NLM_F_REQUEST)?;
        let mut vfs = Vec::new();
        for a in answers {
            if let RouteNetlinkMessage::NewLink(l) = a {
                for attr in l.attributes {
                    if let LinkAttribute::VfInfoList(list) = attr {
                        vfs.extend(list.iter().filter_map(to_link));
                    }
                }
            }
        }
        vfs.sort_by_key(|v| v.index);
        Ok(vfs)
    }

    fn set_vf(&mut self, pf_netdev: &str, vf: u16, attr: &VfAttr) -> io::Result<()> {
        let id = u32::from(vf);
        let info = match *attr {
            VfAttr::Mac(m) => VfInfo::Mac(VfInfoMac::new(id, &m.0)),
            VfAttr::Vlan { vlan, qos } => VfInfo::Vlan(VfInfoVlan::new(id, vlan.into(), qos.into())),
            VfAttr::Spoofchk(b) => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(id, b)),
            VfAttr::Trust(b) => VfInfo::Trust(VfInfoTrust::new(id, b)),
            VfAttr::LinkState(s) => VfInfo::LinkState(VfInfoLinkState::new(
                id,
                match s {
                    LinkState::Auto => VfLinkState::Auto,
                    LinkState::Enable => VfLinkState::Enable,
                    LinkState::Disable => VfLinkState::Disable,
                },
            )),
            VfAttr::Rate { min, max } => VfInfo::Rate(VfInfoRate::new(id, min, max)),
        };
        let mut m = LinkMessage::default();
        m.header.index = Self::ifindex(pf_netdev)?;
        m.attributes.push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![info])]));
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_REQUEST | NLM_F_ACK).map(drop)
    }
}
