// What the drivers share (none of it is the document's code): one JSON line on stdout per
// event, the `ws` package as the global WebSocket with every connection attempt, open, close
// and frame recorded, and the document's console output captured as events.
//
// Events (field `event`):
//   connecting {attempt, url}      a WebSocket was constructed (one connection attempt)
//   open {attempt}                 the handshake succeeded
//   close {attempt, code, reason}  the connection closed (1006: no close frame)
//   ws_error {attempt, message}    the ws package reported an error (e.g. a refused handshake)
//   protocol_ping {attempt}        a WebSocket protocol ping frame (ws answers it by itself)
//   message {attempt, message}     a text frame, parsed
//   handled {type, ...}            an application handler ran (see handlers.js)
//   handler_threw {type, error}    an application handler threw
//   console {level, text}          console output of the document's code
//   unhandled_rejection {reason}   a promise rejection nobody handled
//   stopped {attempts}             the driver was told to stop (SIGTERM)

'use strict';

const util = require('util');
const RealWebSocket = require('ws');

const started = Date.now();
let attempts = 0;

function emit(event, fields = {}) {
    const line = JSON.stringify({ t: (Date.now() - started) / 1000, event, ...fields });
    process.stdout.write(line + '\n');
}

function describe(value) {
    if (typeof value === 'string') {
        return value;
    }
    if (value instanceof Error) {
        return `${value.name}: ${value.message}`;
    }
    if (value && typeof value === 'object' && typeof value.message === 'string') {
        // ws's ErrorEvent / CloseEvent
        return `${value.constructor ? value.constructor.name : 'Event'}: ${value.message}`;
    }
    return util.inspect(value, { depth: 4, breakLength: Infinity });
}

function redact(url) {
    return String(url).replace(/token=([^&]*)/, (_, token) => `token=<${token.length} chars>`);
}

class InstrumentedWebSocket extends RealWebSocket {
    constructor(url, ...rest) {
        super(url, ...rest);
        attempts += 1;
        const attempt = attempts;
        emit('connecting', { attempt, url: redact(url) });
        // Listeners added here run before the document's on* handlers, which are set after
        // the constructor returns; none of them changes what ws does.
        this.on('open', () => emit('open', { attempt }));
        this.on('close', (code, reason) =>
            emit('close', { attempt, code, reason: reason.toString() })
        );
        this.on('error', (error) => emit('ws_error', { attempt, message: describe(error) }));
        this.on('ping', () => emit('protocol_ping', { attempt }));
        this.on('message', (data, isBinary) => {
            let message;
            try {
                message = JSON.parse(data.toString());
            } catch (error) {
                message = { unparsable: data.toString().slice(0, 500), binary: isBinary };
            }
            emit('message', { attempt, message });
        });
    }
}

function install() {
    globalThis.WebSocket = InstrumentedWebSocket;
    for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
        console[level] = (...args) => emit('console', { level, text: args.map(describe).join(' ') });
    }
    // A browser reports an unhandled rejection on its console and goes on; Node would exit,
    // which no user of the document's client in a browser ever sees. The 10.1 client leaves
    // the promise of a failed reconnect unhandled (`this.connect().then(...)` has no catch).
    process.on('unhandledRejection', (reason) =>
        emit('unhandled_rejection', { reason: describe(reason) })
    );
    process.on('uncaughtException', (error) =>
        emit('uncaught_exception', { error: describe(error), stack: error && error.stack })
    );
    process.on('SIGTERM', () => {
        emit('stopped', { attempts });
        process.exit(0);
    });
}

module.exports = { emit, describe, install };
