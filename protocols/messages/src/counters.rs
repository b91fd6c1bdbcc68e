//! Counter pages: how a component publishes its statistics to readers.
//!
//! A component that keeps figures others should see (a driver's frames,
//! interrupts and drops by reason; the network stack's sockets) writes them
//! into a region it maps read-write; an observer (the HTTP status page, a
//! test) maps the same region read-only. The page is plain words, viewed on
//! both sides as `&[AtomicU64]` (`ward_userlib::region::words64`):
//!
//! | word | content |
//! |---|---|
//! | 0 | magic `"WARDCNTR"`, written last when the page is set up |
//! | 1 | number of counters `n` |
//! | 2 | the writer's generation (it sets the page up again after a restart) |
//! | 3 | reserved, zero |
//! | 4 + 4·i .. 4 + 4·i + 3 | counter i's name: 24 bytes, UTF-8, zero-padded |
//! | 4 + 4·i + 3 | counter i's value |
//!
//! The writer is the only one who stores; each value is one aligned word, so
//! a reader sees every value whole, though not all values of one instant.
//! A reader trusts nothing: it checks the magic, bounds the count by the
//! page's size and shows a name that is not UTF-8 as "?".

use core::sync::atomic::{AtomicU64, Ordering};

/// "WARDCNTR" in little-endian ASCII.
pub const MAGIC: u64 = u64::from_le_bytes(*b"WARDCNTR");
/// Bytes of a counter's name.
pub const NAME_BYTES: usize = 24;
/// Words per counter: its name and its value.
const ENTRY_WORDS: usize = NAME_BYTES / 8 + 1;
/// Words before the first counter.
const HEADER_WORDS: usize = 4;

/// The most counters a page of `words` words holds.
pub const fn capacity(words: usize) -> usize {
    words.saturating_sub(HEADER_WORDS) / ENTRY_WORDS
}

/// The writer's side of a counter page.
pub struct CounterWriter<'a> {
    words: &'a [AtomicU64],
    count: usize,
}

/// The page is too small for the counters asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTooSmall {
    /// Counters asked for.
    pub wanted: usize,
    /// Counters the page holds.
    pub capacity: usize,
}

impl<'a> CounterWriter<'a> {
    /// Sets the page up with `names` (cut to 24 bytes), every value zero,
    /// stamped with `generation`.
    pub fn create(
        words: &'a [AtomicU64],
        names: &[&str],
        generation: u64,
    ) -> Result<CounterWriter<'a>, PageTooSmall> {
        if names.len() > capacity(words.len()) {
            return Err(PageTooSmall {
                wanted: names.len(),
                capacity: capacity(words.len()),
            });
        }
        words[0].store(0, Ordering::Release);
        for (i, name) in names.iter().enumerate() {
            let at = HEADER_WORDS + i * ENTRY_WORDS;
            let bytes = name.as_bytes();
            let mut cut = bytes.len().min(NAME_BYTES);
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            let mut padded = [0u8; NAME_BYTES];
            padded[..cut].copy_from_slice(&bytes[..cut]);
            for (w, chunk) in padded.chunks(8).enumerate() {
                let value = u64::from_le_bytes(chunk.try_into().expect("8-byte chunks"));
                words[at + w].store(value, Ordering::Relaxed);
            }
            words[at + ENTRY_WORDS - 1].store(0, Ordering::Relaxed);
        }
        words[1].store(names.len() as u64, Ordering::Relaxed);
        words[2].store(generation, Ordering::Relaxed);
        words[3].store(0, Ordering::Relaxed);
        words[0].store(MAGIC, Ordering::Release);
        Ok(CounterWriter {
            words,
            count: names.len(),
        })
    }

    fn value(&self, index: usize) -> Option<&AtomicU64> {
        (index < self.count)
            .then(|| &self.words[HEADER_WORDS + index * ENTRY_WORDS + ENTRY_WORDS - 1])
    }

    /// Sets counter `index` (ignored past the last counter).
    pub fn set(&self, index: usize, value: u64) {
        if let Some(word) = self.value(index) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// Adds to counter `index` (wrapping).
    pub fn add(&self, index: usize, amount: u64) {
        if let Some(word) = self.value(index) {
            // Only this side writes, so a load and a store are enough.
            word.store(
                word.load(Ordering::Relaxed).wrapping_add(amount),
                Ordering::Relaxed,
            );
        }
    }

    /// Counter `index`'s current value (0 past the last counter).
    pub fn get(&self, index: usize) -> u64 {
        self.value(index)
            .map_or(0, |word| word.load(Ordering::Relaxed))
    }
}

/// One counter as a reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    name: [u8; NAME_BYTES],
    name_length: usize,
    /// The value when it was read.
    pub value: u64,
}

impl Counter {
    /// The counter's name ("?" if the writer put something other than UTF-8 there).
    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_length]).unwrap_or("?")
    }
}

/// The reader's side of a counter page.
pub struct CounterReader<'a> {
    words: &'a [AtomicU64],
}

impl<'a> CounterReader<'a> {
    /// A reader over a page (set up or not).
    pub fn new(words: &'a [AtomicU64]) -> CounterReader<'a> {
        CounterReader { words }
    }

    /// Whether the writer has set the page up.
    pub fn is_ready(&self) -> bool {
        self.words
            .first()
            .is_some_and(|w| w.load(Ordering::Acquire) == MAGIC)
    }

    /// The writer's generation (0 if the page is not set up).
    pub fn generation(&self) -> u64 {
        if self.is_ready() {
            self.words[2].load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Counters on the page (bounded by what the page can hold).
    pub fn len(&self) -> usize {
        if self.is_ready() {
            (self.words[1].load(Ordering::Relaxed) as usize).min(capacity(self.words.len()))
        } else {
            0
        }
    }

    /// Whether the page has no counters (or is not set up).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counter `index`.
    pub fn get(&self, index: usize) -> Option<Counter> {
        if index >= self.len() {
            return None;
        }
        let at = HEADER_WORDS + index * ENTRY_WORDS;
        let mut name = [0u8; NAME_BYTES];
        for (w, chunk) in name.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&self.words[at + w].load(Ordering::Relaxed).to_le_bytes());
        }
        let name_length = name.iter().position(|&b| b == 0).unwrap_or(NAME_BYTES);
        Some(Counter {
            name,
            name_length,
            value: self.words[at + ENTRY_WORDS - 1].load(Ordering::Relaxed),
        })
    }

    /// The value of the counter called `name`.
    pub fn value_of(&self, name: &str) -> Option<u64> {
        self.iter().find(|c| c.name() == name).map(|c| c.value)
    }

    /// Every counter, in order.
    pub fn iter(&self) -> impl Iterator<Item = Counter> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<const N: usize>() -> [AtomicU64; N] {
        [const { AtomicU64::new(0) }; N]
    }

    #[test]
    fn a_written_page_reads_back() {
        let words = page::<64>();
        let reader = CounterReader::new(&words);
        assert!(!reader.is_ready());
        assert_eq!(reader.len(), 0);
        let writer = CounterWriter::create(
            &words,
            &["rx_frames", "a name much longer than twenty-four bytes"],
            3,
        )
        .unwrap();
        writer.add(0, 5);
        writer.add(0, 2);
        writer.set(1, 9);
        writer.set(7, 1); // past the end: ignored
        assert_eq!(reader.generation(), 3);
        assert_eq!(reader.value_of("rx_frames"), Some(7));
        assert_eq!(reader.get(1).unwrap().name(), "a name much longer than ");
        assert_eq!(reader.iter().count(), 2);
        assert_eq!(writer.get(0), 7);
    }

    #[test]
    fn too_many_counters_are_refused() {
        let words = page::<12>();
        assert_eq!(capacity(12), 2);
        assert_eq!(
            CounterWriter::create(&words, &["a", "b", "c"], 1).err(),
            Some(PageTooSmall {
                wanted: 3,
                capacity: 2
            })
        );
    }

    #[test]
    fn a_lying_page_is_bounded() {
        let words = page::<12>();
        words[0].store(MAGIC, Ordering::Relaxed);
        words[1].store(u64::MAX, Ordering::Relaxed);
        words[4].store(u64::MAX, Ordering::Relaxed); // not UTF-8
        let reader = CounterReader::new(&words);
        assert_eq!(reader.len(), 2);
        assert_eq!(reader.get(0).unwrap().name(), "?");
        assert_eq!(reader.get(2), None);
    }
}
