//! The single-node replica set Outpost presents to drivers (unless started `--standalone`):
//! the member's advertised address, the operation time taken from the history log's hybrid
//! logical clock, and the `$clusterTime`/`operationTime` fields of replies.
//!
//! Outpost is always the primary of a one-member set: every write is committed (and
//! majority-committed) when it is acknowledged, so the last committed history entry is both
//! the last and the majority operation time.

use bson::{doc, Bson, Document, Timestamp};

use crate::state::{ConnInfo, State};

/// The replica set term: fixed, as there are never elections.
pub const TERM: i64 = 1;

/// The election id `hello` reports: fixed with the term (drivers compare it with
/// `setVersion` to detect stale primaries; there is only ever one).
pub fn election_id() -> bson::oid::ObjectId {
    bson::oid::ObjectId::from_bytes([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1])
}

/// Milliseconds in the 16 low bits of a hybrid logical clock reading are the counter.
const COUNTER_BITS: u32 = 16;

/// A hybrid logical clock reading as a MongoDB timestamp: seconds, then the milliseconds
/// within the second and the clock's counter as the increment. Order-preserving and
/// reversible ([`timestamp_to_hlc`]).
pub fn hlc_to_timestamp(hlc: u64) -> Timestamp {
    let ms = hlc >> COUNTER_BITS;
    let counter = hlc & 0xffff;
    let secs = ms / 1000;
    let increment = ((ms % 1000) << COUNTER_BITS) | counter;
    Timestamp {
        time: u32::try_from(secs).unwrap_or(u32::MAX),
        increment: u32::try_from(increment).unwrap_or(u32::MAX),
    }
}

/// The clock reading a timestamp stands for (the inverse of [`hlc_to_timestamp`]); an
/// increment beyond what the clock produces is rounded up to the next millisecond.
pub fn timestamp_to_hlc(ts: Timestamp) -> u64 {
    let secs = u64::from(ts.time);
    let increment = u64::from(ts.increment);
    let ms_in_second = (increment >> COUNTER_BITS).min(1000);
    let counter = if ms_in_second == 1000 {
        0
    } else {
        increment & 0xffff
    };
    ((secs * 1000 + ms_in_second) << COUNTER_BITS) | counter
}

/// The time of the last committed change (or now, before the first one).
pub fn operation_time(state: &State) -> Timestamp {
    match state.storage.committed_hlc() {
        Ok(Some(hlc)) => hlc_to_timestamp(hlc),
        _ => hlc_to_timestamp(now_hlc()),
    }
}

/// The current wall clock as a hybrid logical clock reading.
fn now_hlc() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    u64::try_from(ms).unwrap_or(0) << COUNTER_BITS
}

/// The date of a timestamp (its seconds), for `lastWriteDate` and `optimeDate`.
pub fn timestamp_date(ts: Timestamp) -> bson::DateTime {
    bson::DateTime::from_millis(i64::from(ts.time) * 1000)
}

/// The member address drivers must see: `--advertise-host`, or the address this client
/// reached.
pub fn member_host(state: &State, conn: &ConnInfo) -> String {
    match &state.config.advertise_host {
        Some(host) => host.clone(),
        None => conn.local.to_string(),
    }
}

/// An optime: `{ts, t}`.
pub fn op_time(ts: Timestamp) -> Document {
    doc! {"ts": ts, "t": TERM}
}

/// Adds `$clusterTime` and `operationTime` to a reply, as a replica set member does.
pub fn add_cluster_time(state: &State, reply: &mut Document) {
    let ts = operation_time(state);
    reply.insert(
        "$clusterTime",
        doc! {
            "clusterTime": ts,
            "signature": {
                "hash": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 20] },
                "keyId": 0_i64,
            },
        },
    );
    reply.insert("operationTime", Bson::Timestamp(ts));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn timestamps_keep_the_clock_order_and_convert_back(
            a in 0_u64..(4_000_000_000_000 << 16),
            b in 0_u64..(4_000_000_000_000 << 16),
        ) {
            let (ta, tb) = (hlc_to_timestamp(a), hlc_to_timestamp(b));
            prop_assert_eq!(a.cmp(&b), (ta.time, ta.increment).cmp(&(tb.time, tb.increment)));
            prop_assert_eq!(timestamp_to_hlc(ta), a);
        }
    }
}
