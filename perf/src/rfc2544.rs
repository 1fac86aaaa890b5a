//! RFC 2544 §26.1 throughput as CSIT runs it: a binary search over the offered rate for the
//! highest rate whose trial loses no more than a given share of the frames: NDR (no drop
//! rate, 0 loss) and PDR (partial drop rate, 0.5% loss by CSIT's convention). MRR (maximum
//! receive rate) is the receive rate of one trial at the highest rate the generator offers.
//!
//! The search is pure: a trial is a function from an offered rate to what was offered and
//! received, so the search logic is tested against a modelled device here and run against
//! vnfd through the generator in [`crate::gen`].

/// What one trial sent and got back.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrialResult {
    /// Frames the generator offered (those its tx queue refused included: on a NIC they
    /// would have been the device under test's rx misses).
    pub offered: u64,
    /// Frames that came back.
    pub received: u64,
    /// The rate actually offered over the trial, frames per second.
    pub offered_pps: f64,
}

impl TrialResult {
    /// Share of the offered frames lost (0 when nothing was offered).
    pub fn loss(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            self.offered.saturating_sub(self.received) as f64 / self.offered as f64
        }
    }
}

/// How to search.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// Highest loss share a passing trial may have (0 for NDR, 0.005 for PDR).
    pub loss: f64,
    /// Stop when the interval between the highest passing and lowest failing rate is this
    /// share of the upper bound or less.
    pub precision: f64,
    /// At most this many trials.
    pub max_trials: u32,
}

/// The outcome of one search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    /// The highest rate that passed (frames per second; 0 if none did).
    pub rate_pps: f64,
    /// The trial at that rate.
    pub at: TrialResult,
    /// Trials run: (offered rate asked, result).
    pub trials: Vec<(f64, TrialResult)>,
}

/// Binary search between 0 and `max_pps` (the rate the generator reached in the MRR trial).
/// `max_pps` itself is tried first: a device that forwards everything the generator can
/// offer passes there and the search ends.
pub fn search(max_pps: f64, s: Search, trial: impl FnMut(f64) -> TrialResult) -> Found {
    search_from(0.0, max_pps, s, trial)
}

/// The same search with `lo_pps` known to pass (PDR starts from the NDR: a rate with no loss
/// has no more than any loss allowed, as MLRsearch uses). `lo_pps` is reported as found if
/// nothing higher passes; the search ends early when it reaches `max_pps`.
pub fn search_from(lo_pps: f64, max_pps: f64, s: Search, mut trial: impl FnMut(f64) -> TrialResult) -> Found {
    let mut found = Found { rate_pps: lo_pps, ..Found::default() };
    let (mut lo, mut hi) = (lo_pps.min(max_pps), max_pps);
    let mut rate = max_pps;
    for _ in 0..s.max_trials.max(1) {
        let r = trial(rate);
        found.trials.push((rate, r));
        if r.loss() <= s.loss {
            lo = rate;
            if rate > found.rate_pps {
                found.rate_pps = rate;
                found.at = r;
            }
        } else {
            hi = rate;
        }
        if hi <= lo || (hi - lo) <= s.precision * hi {
            break;
        }
        rate = (lo + hi) / 2.0;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A modelled device: forwards everything up to `cap` pps, above it forwards `cap`.
    fn dut(cap: f64) -> impl FnMut(f64) -> TrialResult {
        move |rate| {
            let offered = rate as u64;
            TrialResult { offered, received: offered.min(cap as u64), offered_pps: rate }
        }
    }

    #[test]
    fn ndr_converges_to_the_capacity_within_the_precision() {
        let s = Search { loss: 0.0, precision: 0.005, max_trials: 30 };
        let f = search(10e6, s, dut(3.3e6));
        assert!(f.rate_pps <= 3.3e6 && f.rate_pps >= 3.3e6 * 0.99, "{}", f.rate_pps);
        assert_eq!(f.at.loss(), 0.0);
        // The bracket halves each trial: 10M / 2^k <= 0.5% of ~3.3M takes ~10 trials.
        assert!(f.trials.len() <= 12, "{} trials", f.trials.len());
    }

    #[test]
    fn pdr_accepts_half_a_percent_of_loss_and_ndr_none() {
        let s = |loss| Search { loss, precision: 0.001, max_trials: 40 };
        let ndr = search(10e6, s(0.0), dut(4e6));
        let pdr = search(10e6, s(0.005), dut(4e6));
        // At rate r above 4M the loss is 1 - 4M/r: 0.5% at r = 4M / 0.995.
        assert!(ndr.rate_pps <= 4e6, "{}", ndr.rate_pps);
        assert!(pdr.rate_pps > 4e6 && pdr.rate_pps <= 4e6 / 0.995 + 1.0, "{}", pdr.rate_pps);
        assert!(pdr.at.loss() <= 0.005 && pdr.at.loss() > 0.0);
    }

    #[test]
    fn pdr_from_the_ndr_never_ends_below_it() {
        // A device whose every trial above 1M loses 1%: the PDR search alone finds ~1M,
        // and started from a (lucky) NDR of 2M it keeps 2M.
        let noisy = |r: f64| {
            let offered = r as u64;
            let received = if r > 1e6 { offered - offered / 100 } else { offered };
            TrialResult { offered, received, offered_pps: r }
        };
        let s = Search { loss: 0.005, precision: 0.01, max_trials: 20 };
        let f = search_from(2e6, 8e6, s, noisy);
        assert_eq!(f.rate_pps, 2e6);
        assert!(f.trials.iter().all(|(r, _)| *r >= 2e6));
        let alone = search(8e6, s, noisy);
        assert!(alone.rate_pps <= 1e6 && alone.rate_pps > 0.9e6, "{}", alone.rate_pps);
    }

    #[test]
    fn a_device_faster_than_the_generator_passes_the_first_trial() {
        let s = Search { loss: 0.0, precision: 0.005, max_trials: 30 };
        let f = search(5e6, s, dut(20e6));
        assert_eq!((f.rate_pps, f.trials.len()), (5e6, 1));
    }

    #[test]
    fn a_device_that_loses_at_any_rate_has_no_ndr() {
        let s = Search { loss: 0.0, precision: 0.01, max_trials: 20 };
        let f = search(1e6, s, |r| TrialResult { offered: r as u64 + 10, received: r as u64, offered_pps: r });
        assert_eq!(f.rate_pps, 0.0);
        assert_eq!(f.trials.len(), 20);
    }
}
