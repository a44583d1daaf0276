// Run by tests/integration/auth_clients.rs with a URI that carries the credentials and the
// mechanism (SCRAM-SHA-256 or PLAIN): prints who mongosh is logged in as and a write's result.
const status = db.adminCommand({ connectionStatus: 1 });
const user = status.authInfo.authenticatedUsers[0];
print("user=" + user.user + "@" + user.db);
const result = db.getSiblingDB("mongosh_auth").items.insertOne({ x: 1 });
print("insert acknowledged=" + result.acknowledged);
