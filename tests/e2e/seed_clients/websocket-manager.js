// The connection manager of the TiGateway WebSocket API document, section 11.1, as written.
//
// Everything between the BEGIN and END markers is copied from the document unchanged. The
// glue around it: the manager uses the 10.1 client class, which the document's code expects
// in scope, and the manager is exported for the driver.

'use strict';

// Glue: the 10.1 client, in scope under the name the document's code uses.
const { TiGatewayWebSocketClient } = require('./tigateway-client.js');

// ---- BEGIN document section 11.1 (verbatim) ----
// Connection retry mechanism
class WebSocketManager {
    constructor(url, options = {}) {
        this.url = url;
        this.options = {
            maxReconnectAttempts: 5,
            reconnectInterval: 1000,
            heartbeatInterval: 30000,
            ...options
        };
        this.client = null;
        this.reconnectTimer = null;
        this.heartbeatTimer = null;
    }
    
    connect() {
        this.client = new TiGatewayWebSocketClient(this.url);
        
        this.client.onMessageType('pong', () => {
            // Received heartbeat response
        });
        
        this.client.connect().then(() => {
            this.startHeartbeat();
            this.clearReconnectTimer();
        }).catch(() => {
            this.scheduleReconnect();
        });
    }
    
    startHeartbeat() {
        this.heartbeatTimer = setInterval(() => {
            this.client.send({
                type: 'ping',
                id: `ping-${Date.now()}`
            });
        }, this.options.heartbeatInterval);
    }
    
    scheduleReconnect() {
        if (this.reconnectTimer) {
            clearTimeout(this.reconnectTimer);
        }
        
        this.reconnectTimer = setTimeout(() => {
            this.connect();
        }, this.options.reconnectInterval);
    }
    
    clearReconnectTimer() {
        if (this.reconnectTimer) {
            clearTimeout(this.reconnectTimer);
            this.reconnectTimer = null;
        }
    }
}
// ---- END document section 11.1 ----

// Glue: export for the driver.
module.exports = { WebSocketManager };
