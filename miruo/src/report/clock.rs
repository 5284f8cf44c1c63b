//! Capture time → local `HH:MM:SS.mmm` (spec §6.8), following `TZ` and the zone database. The
//! zone offset is looked up once per second of capture time, not per packet.

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub struct Clock {
    tz: TimeZone,
    /// The second whose `HH:MM:SS` is in `hms`.
    cached_sec: Option<i64>,
    hms: [u8; 8],
}

impl Clock {
    /// The local zone (`TZ`, else /etc/localtime); UTC where neither can be read.
    pub fn local() -> Clock {
        Clock::new(TimeZone::try_system().unwrap_or(TimeZone::UTC))
    }

    pub fn new(tz: TimeZone) -> Clock {
        Clock {
            tz,
            cached_sec: None,
            hms: *b"00:00:00",
        }
    }

    /// `HH:MM:SS.mmm` of a capture time in µs since the epoch (milliseconds truncated).
    pub fn format(&mut self, ts_us: i64) -> [u8; 12] {
        let sec = ts_us.div_euclid(1_000_000);
        if self.cached_sec != Some(sec) {
            self.cached_sec = Some(sec);
            let offset = Timestamp::from_second(sec)
                .map_or(0, |t| i64::from(self.tz.to_offset(t).seconds()));
            let day = (sec + offset).rem_euclid(86_400);
            let (h, m, s) = (day / 3600, day / 60 % 60, day % 60);
            for (i, v) in [h, m, s].into_iter().enumerate() {
                self.hms[i * 3] = b'0' + (v / 10) as u8;
                self.hms[i * 3 + 1] = b'0' + (v % 10) as u8;
            }
        }
        let ms = ts_us.rem_euclid(1_000_000) / 1000;
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.hms);
        out[8] = b'.';
        out[9] = b'0' + (ms / 100) as u8;
        out[10] = b'0' + (ms / 10 % 10) as u8;
        out[11] = b'0' + (ms % 10) as u8;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §6.8: local time of day with milliseconds truncated.
    #[test]
    fn formats_utc_and_offset_zones() {
        let mut utc = Clock::new(TimeZone::UTC);
        // 2026-11-27 13:27:56.221999 UTC
        let ts = 1_795_786_076_221_999;
        assert_eq!(&utc.format(ts), b"13:27:56.221");
        let mut tokyo = Clock::new(TimeZone::get("Asia/Tokyo").expect("zone database"));
        assert_eq!(&tokyo.format(ts), b"22:27:56.221");
        assert_eq!(&utc.format(0), b"00:00:00.000");
        assert_eq!(&utc.format(-1), b"23:59:59.999");
    }
}
