// Runs the document's 11.1 connection manager (around the 10.1 client) against a real server:
//
//   node drive-manager.js BASE_URL TOKEN TOPICS_JSON [CLIENT_ID]
//
// The manager has no subscribe of its own, so the topics go in the connection URL, built as
// section 1.3 builds it (token, clientId, subscriptions as a JSON array); TOKEN "-" means none.
// The manager pings every 30 s (its default heartbeatInterval). Prints one JSON line per event
// (harness.js) until SIGTERM.

'use strict';

const harness = require('./harness.js');

harness.install();

const { WebSocketManager } = require('./websocket-manager.js');
const { handleRouteUpdate, handleConfigUpdate, handleError, recorded } = require('./handlers.js');

const [base, token, topicsJson, clientId] = process.argv.slice(2);
if (!base || !token || !topicsJson) {
    process.stderr.write('usage: node drive-manager.js BASE_URL TOKEN TOPICS_JSON [CLIENT_ID]\n');
    process.exit(2);
}

// Section 1.3, "Connection with parameters".
const fields = { clientId: clientId || 'seed-manager', subscriptions: topicsJson };
if (token !== '-') {
    fields.token = token;
}
const params = new URLSearchParams(fields);
const manager = new WebSocketManager(`${base}?${params}`);

// The manager makes a new 10.1 client in every connect(); an application registers its
// handlers on each one, right after the manager made it (before any message can arrive).
function registerHandlers(client) {
    client.onMessageType('route_update', recorded('route_update', handleRouteUpdate));
    client.onMessageType('config_update', recorded('config_update', handleConfigUpdate));
    client.onMessageType('error', recorded('error', handleError));
}

const connect = manager.connect.bind(manager);
manager.connect = () => {
    connect();
    registerHandlers(manager.client);
};

manager.connect();
