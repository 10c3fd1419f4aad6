// Runs the document's 10.1 client as its usage example does, against a real server:
//
//   node drive-client.js URL [TOPICS_JSON]
//
// URL is the full endpoint (with ?token=... when there is one, as in section 1.1); TOPICS_JSON
// the topics to subscribe to once connected (default: the usage example's ["routes","metrics"]).
// Prints one JSON line per event (harness.js) until SIGTERM.

'use strict';

const harness = require('./harness.js');

harness.install();

const { TiGatewayWebSocketClient } = require('./tigateway-client.js');
const { handleRouteUpdate, handleConfigUpdate, handleError, recorded } = require('./handlers.js');

const [url, topicsJson] = process.argv.slice(2);
if (!url) {
    process.stderr.write('usage: node drive-client.js URL [TOPICS_JSON]\n');
    process.exit(2);
}
const topics = topicsJson ? JSON.parse(topicsJson) : ['routes', 'metrics'];

// The document's usage example (10.1), with the URL and topics from the command line. The
// document's handlers log; each one here also records what a real handler reads.
const client = new TiGatewayWebSocketClient(url);

const onRouteUpdate = recorded('route_update', handleRouteUpdate);
client.onMessageType('route_update', (message) => {
    console.log('Route updated:', message.data);
    onRouteUpdate(message);
});

client.onMessageType('metrics', (message) => {
    console.log('Metrics:', message.data.metrics);
});

const onError = recorded('error', handleError);
client.onMessageType('error', (message) => {
    console.error('Error:', message.data);
    onError(message);
});

// Not in the usage example: a 5.1 config handler (the usage example subscribes to no
// config topic, a gateway that follows configs does).
client.onMessageType('config_update', recorded('config_update', handleConfigUpdate));

// Connect and subscribe
client.connect().then(() => {
    client.subscribe(topics);
});
