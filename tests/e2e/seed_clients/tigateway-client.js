// The JavaScript client of the TiGateway WebSocket API document, section 10.1, as written.
//
// Everything between the BEGIN and END markers is copied from the document unchanged (the
// class only; the document's usage example is played by drive-client.js with a real URL).
// The glue around it is the minimum Node needs: the document's code uses the browser's global
// WebSocket, which the `ws` package provides here, and the class is exported for the drivers.

'use strict';

// Glue: the drivers install an instrumented `ws` as globalThis.WebSocket before loading this
// file; loaded on its own, the plain `ws` package is used.
if (typeof globalThis.WebSocket === 'undefined') {
    globalThis.WebSocket = require('ws');
}

// ---- BEGIN document section 10.1 (verbatim) ----
class TiGatewayWebSocketClient {
    constructor(url, options = {}) {
        this.url = url;
        this.options = options;
        this.websocket = null;
        this.subscriptions = new Set();
        this.messageHandlers = new Map();
        this.reconnectAttempts = 0;
        this.maxReconnectAttempts = 5;
        this.reconnectInterval = 1000;
    }
    
    connect() {
        return new Promise((resolve, reject) => {
            try {
                this.websocket = new WebSocket(this.url);
                
                this.websocket.onopen = (event) => {
                    console.log('WebSocket connected');
                    this.reconnectAttempts = 0;
                    resolve(event);
                };
                
                this.websocket.onmessage = (event) => {
                    this.handleMessage(event.data);
                };
                
                this.websocket.onclose = (event) => {
                    console.log('WebSocket disconnected');
                    this.handleReconnect();
                };
                
                this.websocket.onerror = (error) => {
                    console.error('WebSocket error:', error);
                    reject(error);
                };
                
            } catch (error) {
                reject(error);
            }
        });
    }
    
    handleMessage(data) {
        try {
            const message = JSON.parse(data);
            const handler = this.messageHandlers.get(message.type);
            
            if (handler) {
                handler(message);
            } else {
                console.log('Unhandled message type:', message.type);
            }
        } catch (error) {
            console.error('Failed to parse message:', error);
        }
    }
    
    send(message) {
        if (this.websocket && this.websocket.readyState === WebSocket.OPEN) {
            this.websocket.send(JSON.stringify(message));
        } else {
            console.error('WebSocket is not connected');
        }
    }
    
    subscribe(topics, filters = {}) {
        const message = {
            type: 'subscribe',
            id: `sub-${Date.now()}`,
            data: {
                topics: Array.isArray(topics) ? topics : [topics],
                filters: filters
            }
        };
        
        this.send(message);
        topics.forEach(topic => this.subscriptions.add(topic));
    }
    
    unsubscribe(topics) {
        const message = {
            type: 'unsubscribe',
            id: `unsub-${Date.now()}`,
            data: {
                topics: Array.isArray(topics) ? topics : [topics]
            }
        };
        
        this.send(message);
        topics.forEach(topic => this.subscriptions.delete(topic));
    }
    
    onMessageType(type, handler) {
        this.messageHandlers.set(type, handler);
    }
    
    handleReconnect() {
        if (this.reconnectAttempts < this.maxReconnectAttempts) {
            this.reconnectAttempts++;
            console.log(`Attempting to reconnect (${this.reconnectAttempts}/${this.maxReconnectAttempts})`);
            
            setTimeout(() => {
                this.connect().then(() => {
                    // Resubscribe to previous topics
                    if (this.subscriptions.size > 0) {
                        this.subscribe(Array.from(this.subscriptions));
                    }
                });
            }, this.reconnectInterval * this.reconnectAttempts);
        }
    }
    
    disconnect() {
        if (this.websocket) {
            this.websocket.close();
        }
    }
}
// ---- END document section 10.1 ----

// Glue: export for the drivers.
module.exports = { TiGatewayWebSocketClient };
