// Application handlers as a user of the document writes them (none of this is the
// document's code; the document's usage examples only log). Each one reads the message the
// way the document's sections 4.1 and 5.1 show it and returns what it read; `recorded` wraps
// a handler so that what it read, or what it threw, becomes an event line.

'use strict';

const { emit, describe } = require('./harness.js');

// Section 4.1: data.action and data.route (id, uri, status, ...).
function handleRouteUpdate(message) {
    const { action, route } = message.data;
    return { action, id: route.id, uri: route.uri, status: route.status };
}

// Section 5.1: data.config is the route_config document with its id: a gateway reloads
// data.config.routes and data.config.globalFilters. If they are not there, this throws
// (TypeError: reading 'map' of undefined), as the user's handler would.
function handleConfigUpdate(message) {
    const { configType, action, config } = message.data;
    const routes = config.routes.map((route) => ({ id: route.id, uri: route.uri }));
    const globalFilters = config.globalFilters.map((filter) =>
        typeof filter === 'string' ? filter : filter.name
    );
    return { configType, action, id: config.id, routes, globalFilters };
}

// Section 9.1: data.code, data.message, data.details {field, value, reason}, data.requestId.
function handleError(message) {
    const { code, details, requestId } = message.data;
    return { code, details, requestId };
}

function recorded(type, handler) {
    return (message) => {
        let seen;
        try {
            seen = handler(message);
        } catch (error) {
            const data = message && message.data;
            const config = data && data.config;
            emit('handler_threw', {
                type,
                error: describe(error),
                dataKeys: data && typeof data === 'object' ? Object.keys(data) : null,
                dataConfigKeys: config && typeof config === 'object' ? Object.keys(config) : null,
            });
            // The document's handleMessage catches and logs it ("Failed to parse message").
            throw error;
        }
        emit('handled', { type, ...seen });
    };
}

module.exports = { handleRouteUpdate, handleConfigUpdate, handleError, recorded };
