//! PLACEHOLDER (linear scan) until the bit-vector classifier lands; same API.
#![allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub enum Action { Accept, Drop, Reject }
#[derive(Clone, Copy, Debug, PartialEq, Eq)] pub struct Range { pub lo: u32, pub hi: u32 }
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule { pub zone_in: Option<u8>, pub zone_out: Option<u8>, pub src: Vec<(u32, u8)>, pub dst: Vec<(u32, u8)>, pub proto: Option<u8>, pub sport: Option<Range>, pub dport: Option<Range>, pub icmp_type: Option<u8>, pub action: Action }
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query { pub zone_in: u8, pub zone_out: u8, pub src: u32, pub dst: u32, pub proto: u8, pub sport: u16, pub dport: u16, pub icmp_type: u8 }
pub struct Classifier { rules: Vec<Rule> }
#[derive(Debug, PartialEq, Eq)] pub enum CompileError { TooManyRules(usize) }
impl Classifier {
  pub fn compile(rules: &[Rule]) -> Result<Classifier, CompileError> { Ok(Classifier { rules: rules.to_vec() }) }
  pub fn classify(&self, q: &Query) -> Option<u32> { linear_classify(&self.rules, q) }
  pub fn action(&self, r: u32) -> Action { self.rules[r as usize].action }
  pub fn memory_bytes(&self) -> usize { 0 }
}
pub fn linear_classify(rules: &[Rule], q: &Query) -> Option<u32> {
  let pm = |l: &Vec<(u32,u8)>, a: u32| l.is_empty() || l.iter().any(|&(p, n)| n == 0 || (a ^ p) >> (32 - n as u32) == 0);
  rules.iter().position(|r| r.zone_in.is_none_or(|z| z == q.zone_in) && r.zone_out.is_none_or(|z| z == q.zone_out) && pm(&r.src, q.src) && pm(&r.dst, q.dst) && r.proto.is_none_or(|p| p == q.proto) && r.sport.is_none_or(|x| (x.lo..=x.hi).contains(&(q.sport as u32))) && r.dport.is_none_or(|x| (x.lo..=x.hi).contains(&(q.dport as u32))) && r.icmp_type.is_none_or(|t| q.proto == 1 && t == q.icmp_type)).map(|i| i as u32)
}
pub fn bench_rules(_n: usize, _seed: u64) -> Vec<Rule> { vec![] }
pub fn bench_queries(_r: &[Rule], _n: usize, _seed: u64) -> Vec<Query> { vec![Query { zone_in: 0, zone_out: 0, src: 0, dst: 0, proto: 0, sport: 0, dport: 0, icmp_type: 0 }] }
