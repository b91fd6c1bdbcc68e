// The driver's `settings` in system.toml with their ranges (name, least,
// most); `src/settings.rs` says what each means and gives its default.
// Shared by the build script, which refuses any other name or a value out
// of range with an error pointing at the line, and by the driver.

/// Every setting the e1000 driver understands: (name, least value, most value).
pub const SETTING_RANGES: &[(&str, u64, u64)] = &[
    // ITR counts 256 ns units in 16 bits: at most 65535 x 256 ns = 16,776 µs.
    ("interrupt_interval_us", 0, 16_776),
    // RDTR, RADV, TIDV and TADV count 1.024 µs units in 16 bits: at most 67,107 µs.
    ("rx_delay_us", 0, 67_107),
    ("rx_absolute_delay_us", 0, 67_107),
    ("tx_delay_us", 0, 67_107),
    ("tx_absolute_delay_us", 0, 67_107),
    // Frames per poll pass; more than a ring's worth would never be reached.
    ("poll_budget", 1, 4096),
    // RCTL.RDMTS: the receive low watermark is 1/2, 1/4 or 1/8 of the ring.
    ("rx_refill_fraction", 2, 8),
];
