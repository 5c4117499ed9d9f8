//! Ctrl-C stops a serving dashboard cleanly: `serve` returns, the port is released.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use teleforge_dashboard::{Dashboard, Options};
use teleforge_learning::LearningEngine;

#[test]
fn sigint_stops_serving() {
    let dir = tempfile::tempdir().unwrap();
    let engine = LearningEngine::open(dir.path()).unwrap();
    let dashboard =
        Dashboard::bind(engine, Options { addr: "127.0.0.1:0".parse().unwrap(), ..Options::default() }).unwrap();
    let addr = dashboard.local_addr();
    let stop = teleforge_dashboard::stop_on_interrupt();
    let serving = std::thread::spawn(move || dashboard.serve(stop));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let status = agent.get(format!("http://{addr}/api/config")).call().unwrap().status().as_u16();
    assert_eq!(status, 200);
    // SAFETY: raising a signal whose handler only stores to an atomic.
    unsafe { libc::raise(libc::SIGINT) };
    let t = Instant::now();
    while !serving.is_finished() {
        assert!(t.elapsed() < Duration::from_secs(5), "still serving 5 s after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    serving.join().unwrap();
    TcpListener::bind(addr).expect("the port is free again");
}
