//! Property tests: no input makes a decoder, the file reader, the option renderer, the HTTP
//! parser or the session tracker panic; truncating a valid frame anywhere gives an error, never
//! garbage from beyond the capture.

use miruo::decode::{self, Packet};
use miruo::dpi::http::HttpDpi;
use miruo::report::options;
use miruo::session::{Config, End, Report, Segment, Session, Tracker};
use miruo::source::file::FileSource;
use miruo::source::{Frame, LinkType, Next, Source};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

const LINKS: [LinkType; 9] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType(147),
];

fn valid_frame(ipv6: bool, vlan: bool, payload: &[u8]) -> Vec<u8> {
    let eth = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut out = Vec::new();
    let tcp = |b: etherparse::PacketBuilderStep<etherparse::IpHeaders>| {
        b.tcp(40000, 443, 7, 1000)
            .ack(9)
            .psh()
            .options(&[etherparse::TcpOptionElement::Noop])
            .expect("options")
    };
    let result = match (vlan, ipv6) {
        (false, false) => {
            tcp(eth.ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)).write(&mut out, payload)
        }
        (false, true) => tcp(eth.ipv6([0xfd; 16], [0xfe; 16], 64)).write(&mut out, payload),
        (true, false) => tcp(eth.single_vlan(5.try_into().expect("vlan id")).ipv4(
            [198, 18, 0, 1],
            [198, 18, 0, 2],
            64,
        ))
        .write(&mut out, payload),
        (true, true) => tcp(eth
            .single_vlan(5.try_into().expect("vlan id"))
            .ipv6([0xfd; 16], [0xfe; 16], 64))
        .write(&mut out, payload),
    };
    result.expect("build frame");
    out
}

#[derive(Default)]
struct Count(usize);

impl Report for Count {
    fn session_end(&mut self, s: &Session, _: End) {
        self.0 += s.segments.len();
    }
    fn live_segment(&mut self, _: &Session, _: &Segment) {
        self.0 += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_never_panics(link in 0..LINKS.len(), data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let frame = Frame { ts_us: 0, link: LINKS[link], wire_len: data.len() as u32, data: &data };
        let _ = decode::decode(&frame);
    }

    #[test]
    fn truncated_valid_frames_decode_or_fail_cleanly(ipv6: bool, vlan: bool, payload in proptest::collection::vec(any::<u8>(), 0..40), cut in 0usize..200) {
        let full = valid_frame(ipv6, vlan, &payload);
        let whole = Frame { ts_us: 0, link: LinkType::ETHERNET, wire_len: full.len() as u32, data: &full };
        let p = decode::decode(&whole).expect("a valid frame decodes");
        prop_assert_eq!((p.sport, p.dport, p.seq, p.ack), (40000, 443, 7, 9));
        prop_assert_eq!(p.payload, &payload[..]);
        prop_assert_eq!(p.vlan, if vlan { 5 } else { 0 });
        let cut = cut.min(full.len());
        let part = Frame { data: &full[..cut], ..whole };
        if let Ok(q) = decode::decode(&part) {
            // Only the payload may be cut: the headers were all captured.
            prop_assert_eq!((q.seq, q.options), (p.seq, p.options));
            prop_assert!(q.payload.len() <= p.payload.len());
        }
    }

    #[test]
    fn option_rendering_never_panics(opts in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut s = Vec::new();
        options::render(&opts, &mut s);
    }

    #[test]
    fn http_inspection_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300), prefix in prop::sample::select(vec!["", "GET ", "POST /a?b HTTP/1.1\r\n", "HTTP/1.1 ", "HTTP/1.0 200 OK\r\nA:"])) {
        let http = HttpDpi::from_mode("http:%:%").expect("mode").expect("http");
        let mut payload = prefix.as_bytes().to_vec();
        payload.extend_from_slice(&data);
        let _ = http.inspect(&payload);
    }

    #[test]
    fn file_reader_never_panics(head in prop::sample::select(vec![
            vec![0xd4u8, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0],
            vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0],
            vec![]]),
        body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = std::env::temp_dir().join(format!("miruo-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("random.cap");
        let mut bytes = head.clone();
        bytes.extend_from_slice(&body);
        std::fs::write(&path, &bytes).expect("write");
        if let Ok(mut source) = FileSource::open(path.to_str().expect("utf-8")) {
            for _ in 0..1000 {
                match source.next() {
                    Ok(Next::Frame(f)) => { let _ = decode::decode(&f); }
                    Ok(Next::Metadata | Next::Idle { .. }) => {}
                    Ok(Next::End) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn tracker_never_panics_on_arbitrary_sequences(
        seq in proptest::collection::vec((0u16..4, 0u16..3, any::<u8>(), 0u32..5, 0u32..5, 40u32..100, -2_000_000i64..40_000_000, any::<bool>()), 0..300),
        limits in (0u32..4, 0u32..20), context in 0u32..4, live: bool, quiet in 0u8..3) {
        let cfg = Config {
            session_limit: limits.0, segment_limit: limits.1, context, live, all: live, quiet,
            long_delay_ms: 100, long_connect_ms: 50, retransmit_ms: 10, ..Config::default()
        };
        let mut tracker = Tracker::new(cfg);
        let mut report = Count::default();
        let mut ts = 0i64;
        for (port, side, flags, s, a, len, dt, frag) in seq {
            ts += dt;
            let (c, srv) = (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)));
            let (src, dst, sport, dport) = if side == 0 { (c, srv, 1000 + port, 80) } else { (srv, c, 80, 1000 + port) };
            let p = Packet { ts_us: ts, wire_len: len, vlan: 0, src, dst, sport, dport, seq: s, ack: a, flags,
                             options: &[], payload: b"GET / HTTP/1.1\r\n\r\n", more_fragments: frag };
            tracker.packet(&p, &mut report);
            let st = tracker.stats();
            prop_assert!(limits.0 == 0 || st.active_sessions <= u64::from(limits.0));
            prop_assert!(limits.1 == 0 || st.active_segments <= u64::from(limits.1));
        }
        tracker.finish(&mut report);
    }
}
