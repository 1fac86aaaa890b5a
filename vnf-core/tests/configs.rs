//! Every example in configs/ is a valid config (validation includes the mempool check).

#[test]
fn every_example_config_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let cfg = vnf_core::config::Config::parse(&text, p.to_str()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.ports.is_empty(), "{}", p.display());
        n += 1;
    }
    assert!(n >= 3, "found {n} configs");
}
