//! Ethernet ports: probed by devargs (or made from rings), configured, started; their rx and
//! tx queues are handed out once each to the worker that polls them.

use super::{Burst, DpdkError, Mempool, Ring};
use std::ffi::{c_char, CStr, CString};
use vnf_core::wire::MacAddr;

/// How to configure a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConf {
    /// Rx queues.
    pub rx_queues: u16,
    /// Tx queues.
    pub tx_queues: u16,
    /// Rx descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// Tx descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// MTU to set, if any.
    pub mtu: Option<u16>,
    /// MAC to set, if any.
    pub mac: Option<MacAddr>,
    /// Promiscuous mode.
    pub promiscuous: bool,
}

/// Link state and device counters: plain data of the control protocol.
pub use vnf_core::control::reply::{HwStats, LinkInfo};

/// An ethdev port owned by this process. Stopped, closed and (if this process probed it)
/// removed on drop.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    /// The name the operator knows it by (the config's port name; the ethdev name until
    /// one is given), in every message about it.
    label: String,
    devargs: String,
    device: *mut dpdk_sys::rte_device,
    started: bool,
    rx_taken: Vec<bool>,
    tx_taken: Vec<bool>,
    /// An af_packet port's packet sockets, whose ring overflows its PMD does not count.
    af_sockets: Vec<std::os::fd::RawFd>,
    /// Their drops so far (the kernel resets its count on each read).
    af_drops: std::cell::Cell<u64>,
}

// SAFETY: the control-path operations of ethdev may be called from any (one) thread; Port is not Sync, so they are never concurrent.
unsafe impl Send for Port {}

/// The rx queue of a started port, polled by exactly one worker.
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
}

/// The tx queue of a started port, used by exactly one worker.
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
    /// Times a partly refused burst is offered again (the port's `tx_retries`).
    retries: u16,
}

impl RxQueue {
    /// Receives up to `max` packets into `burst`; returns how many.
    #[inline(always)]
    pub fn rx(&self, burst: &mut Burst, max: usize) -> usize {
        let (p, room) = burst.spare_ptr();
        // SAFETY: p has room for min(max, room) pointers; this handle is the queue's only user (handed out once by Port); rx_burst gives us ownership of what it returns. The Dataplane stops its workers before it stops and closes ports.
        unsafe {
            let n = dpdk_sys::rte_eth_rx_burst(self.port, self.queue, p, max.min(room) as u16) as usize;
            burst.add_len(n);
            n
        }
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port
    }
    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl TxQueue {
    /// Transmits the mbufs of `burst` from the front; those sent leave the burst, those the
    /// queue refused stay in it. Returns how many were sent.
    #[inline(always)]
    pub fn tx(&self, burst: &mut Burst) -> usize {
        let raw = burst.raw();
        let len = raw.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: raw holds owned mbufs; the first n are owned by the driver after the call. This handle is the queue's only user.
        let n = unsafe { dpdk_sys::rte_eth_tx_burst(self.port, self.queue, raw.as_mut_ptr(), len as u16) } as usize;
        burst.consume_front(n);
        n
    }

    /// Sends `burst` offering what the queue refuses again up to the queue's retries
    /// (at once: a software peer such as a vhost-user guest frees ring slots within
    /// nanoseconds); returns (sent, retries made). What is still refused stays in `burst`.
    #[inline]
    pub fn tx_retrying(&self, burst: &mut Burst) -> (usize, u16) {
        let mut sent = self.tx(burst);
        let mut tries = 0;
        while !burst.is_empty() && tries < self.retries {
            tries += 1;
            sent += self.tx(burst);
        }
        (sent, tries)
    }

    /// Sets the retries of [`TxQueue::tx_retrying`].
    pub fn set_retries(&mut self, n: u16) {
        self.retries = n;
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port
    }
    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl Port {
    /// Probes (hot-plugs) the device named by `devargs` and takes its first ethdev port.
    pub fn probe(devargs: &str) -> Result<Port, DpdkError> {
        let c = CString::new(devargs).map_err(|_| DpdkError::msg(format!("probe {devargs:?}"), "contains NUL"))?;
        // SAFETY: __errno_location returns the calling thread's errno, always valid to write.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: EAL is initialised by the caller (Dataplane), c is a valid C string.
        let r = unsafe { dpdk_sys::rte_dev_probe(c.as_ptr()) };
        let os = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        // A PCI device bound to vfio-pci is probed by EAL's bus scan at init already.
        if r < 0 && r != -libc::EEXIST {
            return Err(probe_error(format!("probe {devargs:?}"), r, os));
        }
        let id = find_port(&c)
            .ok_or_else(|| DpdkError::msg(format!("probe {devargs:?}"), "the device has no ethdev port"))?;
        Port::adopt(id, devargs)
    }

    /// A port backed by rte_rings (the net_ring PMD): what is enqueued on `rx` is received,
    /// what is sent goes to `tx`. For tests and for chaining in-process.
    pub fn from_rings(name: &str, rx: &[&Ring], tx: &[&Ring]) -> Result<Port, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::msg("ring port", "name contains NUL"))?;
        let rxp: Vec<_> = rx.iter().map(|r| r.as_ptr()).collect();
        let txp: Vec<_> = tx.iter().map(|r| r.as_ptr()).collect();
        // SAFETY: arrays of live rings; the PMD keeps the pointers, and the caller keeps the rings alive while the port exists (documented).
        let r = unsafe {
            dpdk_sys::rte_eth_from_rings(c.as_ptr(), rxp.as_ptr(), rxp.len() as u32, txp.as_ptr(), txp.len() as u32, 0)
        };
        if r < 0 {
            return Err(DpdkError::from_errno(format!("ring port {name}")));
        }
        Port::adopt(r as u16, &format!("net_ring_{name}"))
    }

    fn adopt(id: u16, devargs: &str) -> Result<Port, DpdkError> {
        let info = dev_info(id, devargs)?;
        let mut buf = [0 as c_char; 64];
        // SAFETY: buf has 64 bytes, the documented RTE_ETH_NAME_MAX_LEN.
        let name = if unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) } == 0 {
            // SAFETY: DPDK wrote a NUL-terminated name into buf.
            unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
        } else {
            devargs.to_owned()
        };
        Ok(Port {
            id,
            label: name.clone(),
            name,
            devargs: devargs.to_owned(),
            device: info.device,
            started: false,
            rx_taken: vec![],
            tx_taken: vec![],
            // The PMD opened its sockets when the device was probed.
            af_sockets: match super::afpacket::iface(devargs) {
                Some(i) if devargs.starts_with("net_af_packet") || devargs.starts_with("eth_af_packet") => {
                    super::afpacket::sockets(i)
                }
                _ => vec![],
            },
            af_drops: std::cell::Cell::new(0),
        })
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.id
    }
    /// The ethdev name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Names it `label` (its config name) in messages.
    pub fn set_label(&mut self, label: &str) {
        label.clone_into(&mut self.label);
    }
    /// The name messages give it: its config name once set, else the ethdev name.
    pub fn label(&self) -> &str {
        &self.label
    }
    /// `port NAME (ETHDEV)`, as messages name it.
    fn what(&self) -> String {
        if self.label == self.name {
            format!("port {}", self.name)
        } else {
            format!("port {} ({})", self.label, self.name)
        }
    }
    /// The devargs it was probed with.
    pub fn devargs(&self) -> &str {
        &self.devargs
    }

    /// The driver name, e.g. `net_pcap`.
    pub fn driver(&self) -> String {
        match dev_info(self.id, &self.devargs) {
            Ok(i) if !i.driver_name.is_null() => {
                // SAFETY: driver_name is a static NUL-terminated string of the PMD.
                unsafe { CStr::from_ptr(i.driver_name) }.to_string_lossy().into_owned()
            }
            _ => String::new(),
        }
    }

    /// Configures queues, descriptors, MTU, MAC and promiscuous mode. The port must be stopped.
    pub fn configure(&mut self, conf: &PortConf, pool: &Mempool) -> Result<(), DpdkError> {
        let port = self.what();
        let what = |s: &str| format!("{port}: {s}");
        let info = dev_info(self.id, &self.devargs)?;
        if conf.rx_queues > info.max_rx_queues {
            return Err(DpdkError::msg(
                what("rx queues"),
                format!("{} requested, the device has at most {}", conf.rx_queues, info.max_rx_queues),
            ));
        }
        if conf.tx_queues > info.max_tx_queues {
            return Err(DpdkError::msg(
                what("tx queues"),
                format!("{} needed (one per worker), the device has at most {}", conf.tx_queues, info.max_tx_queues),
            ));
        }
        let mut ec = dpdk_sys::rte_eth_conf::default();
        if conf.rx_queues > 1 && info.flow_type_rss_offloads != 0 {
            ec.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            ec.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads;
        }
        // SAFETY: port id is valid; ec is a valid config.
        let r = unsafe { dpdk_sys::rte_eth_dev_configure(self.id, conf.rx_queues, conf.tx_queues, &ec) };
        if r < 0 {
            return Err(DpdkError::new(what("configure"), r));
        }
        let (mut nrx, mut ntx) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid port; DPDK clamps the counts in place.
        let r = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut nrx, &mut ntx) };
        if r < 0 {
            return Err(DpdkError::new(what("adjust descriptors"), r));
        }
        // SAFETY: valid port.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(self.id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        let (mp, defaults) = (pool.as_ptr(), std::ptr::null());
        for q in 0..conf.rx_queues {
            // SAFETY: configured port, queue in range, live pool; NULL conf = defaults.
            let r = unsafe { dpdk_sys::rte_eth_rx_queue_setup(self.id, q, nrx, socket, defaults, mp) };
            if r < 0 {
                return Err(DpdkError::new(what(&format!("rx queue {q} setup")), r));
            }
        }
        for q in 0..conf.tx_queues {
            // SAFETY: configured port, queue in range; NULL conf = defaults.
            let r = unsafe { dpdk_sys::rte_eth_tx_queue_setup(self.id, q, ntx, socket, std::ptr::null()) };
            if r < 0 {
                return Err(DpdkError::new(what(&format!("tx queue {q} setup")), r));
            }
        }
        if let Some(mtu) = conf.mtu {
            // SAFETY: valid port.
            let r = unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.id, mtu) };
            if r < 0 {
                return Err(DpdkError::new(what(&format!("set MTU {mtu}")), r));
            }
        }
        if let Some(mac) = conf.mac {
            let mut a = dpdk_sys::rte_ether_addr { addr_bytes: mac.0 };
            // SAFETY: valid port and address.
            let r = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(self.id, &mut a) };
            if r < 0 {
                return Err(DpdkError::new(what(&format!("set MAC {mac}")), r));
            }
        }
        // Promiscuous mode is best effort: several virtual PMDs do not implement it.
        // SAFETY: valid port.
        unsafe {
            if conf.promiscuous {
                dpdk_sys::rte_eth_promiscuous_enable(self.id);
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id);
            }
        }
        self.rx_taken = vec![false; conf.rx_queues as usize];
        self.tx_taken = vec![false; conf.tx_queues as usize];
        Ok(())
    }

    /// Starts the port.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        // SAFETY: configured port.
        let r = unsafe { dpdk_sys::rte_eth_dev_start(self.id) };
        if r < 0 {
            return Err(DpdkError::new(format!("start {}", self.what()), r));
        }
        self.started = true;
        Ok(())
    }

    /// Stops the port (no worker may be polling it).
    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: valid port; callers stop workers first.
            unsafe { dpdk_sys::rte_eth_dev_stop(self.id) };
            self.started = false;
        }
    }

    /// Makes every queue available to hand out again. The dataplane calls it when it builds
    /// a new snapshot: the handles of the previous one go out of use as the workers adopt
    /// the new one, and it never gives one queue to two workers at the same time.
    pub fn release_queues(&mut self) {
        self.rx_taken.iter_mut().for_each(|t| *t = false);
        self.tx_taken.iter_mut().for_each(|t| *t = false);
    }

    /// Hands out rx queue `q` (once).
    pub fn take_rx_queue(&mut self, q: u16) -> Option<RxQueue> {
        let t = self.rx_taken.get_mut(q as usize)?;
        if std::mem::replace(t, true) {
            return None;
        }
        Some(RxQueue { port: self.id, queue: q })
    }

    /// Hands out tx queue `q` (once).
    pub fn take_tx_queue(&mut self, q: u16) -> Option<TxQueue> {
        let t = self.tx_taken.get_mut(q as usize)?;
        if std::mem::replace(t, true) {
            return None;
        }
        Some(TxQueue { port: self.id, queue: q, retries: 0 })
    }

    /// The port's MAC address.
    pub fn mac(&self) -> MacAddr {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port, valid out pointer.
        unsafe { dpdk_sys::rte_eth_macaddr_get(self.id, &mut a) };
        MacAddr(a.addr_bytes)
    }

    /// The device's current MTU (None when the driver cannot tell).
    pub fn mtu(&self) -> Option<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid port, valid out pointer.
        let r = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.id, &mut mtu) };
        (r == 0).then_some(mtu)
    }

    /// Link state without waiting.
    pub fn link(&self) -> LinkInfo {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port, valid out pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        LinkInfo { up: l.link_status() != 0, speed_mbps: l.link_speed, full_duplex: l.link_duplex() != 0 }
    }

    /// Sets the link administratively up or down (`rte_eth_dev_set_link_up/down`): a NIC
    /// drops its link, af_packet and tap take their interface down. Drivers without it
    /// refuse with ENOTSUP.
    pub fn set_link(&self, up: bool) -> Result<(), DpdkError> {
        // SAFETY: a valid port id of this process; a control-path call.
        let r = unsafe {
            if up {
                dpdk_sys::rte_eth_dev_set_link_up(self.id)
            } else {
                dpdk_sys::rte_eth_dev_set_link_down(self.id)
            }
        };
        if r < 0 {
            return Err(DpdkError::new(
                format!("set the link of {} {}", self.what(), if up { "up" } else { "down" }),
                r,
            ));
        }
        Ok(())
    }

    /// The device's counters.
    pub fn hw_stats(&self) -> HwStats {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port, valid out pointer.
        unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) };
        HwStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed + self.af_missed(),
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Frames an af_packet port's kernel rings dropped (0 for other ports).
    fn af_missed(&self) -> u64 {
        if !self.af_sockets.is_empty() {
            self.af_drops.set(self.af_drops.get() + super::afpacket::drops(&self.af_sockets));
        }
        self.af_drops.get()
    }

    /// Extended statistics as (name, value).
    pub fn xstats(&self) -> Vec<(String, u64)> {
        // SAFETY: a NULL array asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        if n <= 0 {
            return vec![];
        }
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: arrays of n entries.
        let (a, b) = unsafe {
            (
                dpdk_sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32),
                dpdk_sys::rte_eth_xstats_get(self.id, vals.as_mut_ptr(), n as u32),
            )
        };
        if a != n || b != n {
            return vec![];
        }
        vals.iter()
            .filter_map(|v| {
                let nm = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates names within the fixed array.
                let s = unsafe { CStr::from_ptr(nm.name.as_ptr()) }.to_string_lossy().into_owned();
                Some((s, v.value))
            })
            .collect()
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.stop();
        // SAFETY: valid port, stopped; after close the id is not used by us again. The device is removed (vdev destroyed, PCI device detached) so its name can be probed again.
        unsafe {
            dpdk_sys::rte_eth_dev_close(self.id);
            if !self.device.is_null() {
                dpdk_sys::rte_dev_remove(self.device);
            }
        }
    }
}

/// Why `rte_dev_probe` failed with `r`, `os` being the thread's errno after the call (zeroed
/// before it). DPDK 22.11 returns a negative errno from most paths, but a driver's probe that
/// fails returns -1, which is no errno ("Operation not permitted" if read as one): the
/// reason is then the errno of the system call that failed in the driver (af_packet's
/// `ioctl`, `socket` or `setsockopt`, as DPDK's log shows it), when there is one.
/// `rte_errno` does not tell: EAL's multi-process registration leaves EEXIST in it on every
/// vdev probe, failed or not.
fn probe_error(op: String, r: i32, os: i32) -> DpdkError {
    match (r, os) {
        (-1, 0) => DpdkError::msg(
            op,
            "the driver refused the device without giving a reason (an unknown or bad devargs key or value? DPDK's log above may say more)",
        ),
        (-1, e) => DpdkError::new(op, e),
        (r, _) => DpdkError::new(op, r),
    }
}

fn dev_info(id: u16, what: &str) -> Result<dpdk_sys::rte_eth_dev_info, DpdkError> {
    let mut info = dpdk_sys::rte_eth_dev_info::default();
    // SAFETY: valid out pointer; DPDK validates the port id.
    let r = unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) };
    if r < 0 {
        return Err(DpdkError::new(format!("device info of {what}"), r));
    }
    Ok(info)
}

fn find_port(devargs: &CStr) -> Option<u16> {
    let mut it = dpdk_sys::rte_dev_iterator::default();
    // SAFETY: valid iterator storage and C string.
    if unsafe { dpdk_sys::rte_eth_iterator_init(&mut it, devargs.as_ptr()) } < 0 {
        return None;
    }
    // SAFETY: initialised iterator.
    let id = unsafe { dpdk_sys::rte_eth_iterator_next(&mut it) };
    // SAFETY: cleanup is required when iteration stops early; harmless otherwise.
    unsafe { dpdk_sys::rte_eth_iterator_cleanup(&mut it) };
    (u32::from(id) < dpdk_sys::RTE_MAX_ETHPORTS).then_some(id)
}
