//! `replSetGetStatus`: the state of the single-node replica set (one member, the primary, always
//! healthy). A `--standalone` server answers as mongod does without `--replSet`.

use bson::{doc, Document};

use super::{Command, Counter, Request};
use crate::auth::Action;
use crate::error::{Error, Result};
use crate::replset;
use crate::state::State;

pub static COMMAND: Command = Command {
    name: "replSetGetStatus",
    aliases: &[],
    help: "the replica set's members and their optimes (one member: this primary)",
    admin_only: true,
    counter: Counter::Command,
    action: Action::ClusterMonitor,
    run,
};

fn run(state: &State, req: &Request) -> Result<Document> {
    if state.config.standalone {
        return Err(Error::new(76, "not running with --replSet"));
    }
    let ts = replset::operation_time(state);
    let op_time = replset::op_time(ts);
    let date = replset::timestamp_date(ts);
    let uptime = i64::try_from(state.started.elapsed().as_secs()).unwrap_or(i64::MAX);
    let now = bson::DateTime::now();
    let me = replset::member_host(state, req.conn);
    Ok(doc! {
        "set": &state.config.repl_set,
        "date": now,
        "myState": 1_i32,
        "term": replset::TERM,
        "heartbeatIntervalMillis": 2000_i64,
        "majorityVoteCount": 1_i32,
        "writeMajorityCount": 1_i32,
        "votingMembersCount": 1_i32,
        "writableVotingMembersCount": 1_i32,
        "optimes": {
            "lastCommittedOpTime": op_time.clone(),
            "lastCommittedWallTime": date,
            "readConcernMajorityOpTime": op_time.clone(),
            "appliedOpTime": op_time.clone(),
            "durableOpTime": op_time.clone(),
            "lastAppliedWallTime": date,
            "lastDurableWallTime": date,
        },
        "members": [{
            "_id": 0_i32,
            "name": me,
            "health": 1.0,
            "state": 1_i32,
            "stateStr": "PRIMARY",
            "uptime": uptime,
            "optime": op_time.clone(),
            "optimeDate": date,
            "lastAppliedWallTime": date,
            "lastDurableWallTime": date,
            "syncSourceHost": "",
            "syncSourceId": -1_i32,
            "infoMessage": "",
            "configVersion": 1_i32,
            "configTerm": replset::TERM,
            "self": true,
            "lastHeartbeatMessage": "",
        }],
    })
}
