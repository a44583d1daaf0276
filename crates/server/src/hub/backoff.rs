//! The sync task's waits between attempts after a failure: exponential, from 100 ms (or the
//! cap, when lower) doubling up to `sync_max_backoff_ms`, back to the start after a success.
//! A refusal by the hub (its API key refused, an old protocol) backs off the same way: the
//! edge keeps serving locally and tries again, so a hub that accepts it again (the fix made
//! there, or a new key) is picked up without a restart.

use std::time::Duration;

/// The first wait after a failure.
const INITIAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Backoff {
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            max,
            next: INITIAL.min(max),
        }
    }

    /// The wait before the next attempt; the one after is twice as long, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// After a success: the next failure waits the initial time again.
    pub fn reset(&mut self) {
        self.next = INITIAL.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(backoff: &mut Backoff, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| u64::try_from(backoff.next_wait().as_millis()).unwrap())
            .collect()
    }

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_millis(1_000));
        assert_eq!(
            waits(&mut backoff, 7),
            [100, 200, 400, 800, 1_000, 1_000, 1_000]
        );
        backoff.reset();
        assert_eq!(waits(&mut backoff, 2), [100, 200]);
    }

    #[test]
    fn a_cap_below_the_first_wait_is_every_wait() {
        let mut backoff = Backoff::new(Duration::from_millis(30));
        assert_eq!(waits(&mut backoff, 3), [30, 30, 30]);
    }

    #[test]
    fn a_huge_cap_does_not_overflow() {
        let mut backoff = Backoff::new(Duration::MAX);
        for _ in 0..200 {
            backoff.next_wait();
        }
        assert_eq!(backoff.next_wait(), Duration::MAX);
    }
}
