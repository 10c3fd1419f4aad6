// What the document's Java client (section 10.2) does, on the JDK's own java.net.http.WebSocket
// instead of Spring's StandardWebSocketClient and Jackson (no dependencies to fetch):
//
//   java SeedJavaClient URL TOPIC[,TOPIC...]
//
// It connects (the token is in URL, as in section 1.1), subscribes to the topics once the
// connection is established, then only listens: like 10.2 it never sends anything else, has no
// heartbeat and does not reconnect. Protocol ping frames are answered by the JDK itself.
// One JSON line per event on stdout (the same events as harness.js) until it is killed.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

public final class SeedJavaClient {

    private static final long STARTED = System.nanoTime();

    // ---- event lines ---------------------------------------------------------------------

    static synchronized void emit(String event, Map<String, Object> fields) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("t", (System.nanoTime() - STARTED) / 1e9);
        line.put("event", event);
        line.putAll(fields);
        System.out.println(Json.write(line));
        System.out.flush();
    }

    static Map<String, Object> fields(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    /** The document's `log` (SLF4J in 10.2): console events, like harness.js. */
    static final class log {
        static void info(String text, Object... args) {
            emit("console", fields("level", "info", "text", format(text, args)));
        }

        static void debug(String text, Object... args) {
            emit("console", fields("level", "debug", "text", format(text, args)));
        }

        static void error(String text, Object... args) {
            emit("console", fields("level", "error", "text", format(text, args)));
        }

        private static String format(String text, Object... args) {
            StringBuilder out = new StringBuilder();
            int arg = 0;
            int at = 0;
            while (true) {
                int next = text.indexOf("{}", at);
                if (next < 0 || arg >= args.length) {
                    break;
                }
                out.append(text, at, next).append(Json.describe(args[arg++]));
                at = next + 2;
            }
            out.append(text.substring(at));
            for (; arg < args.length; arg++) {
                out.append(' ').append(Json.describe(args[arg]));
            }
            return out.toString();
        }
    }

    /** The document's WebSocketMessage: type, id, data. */
    record WebSocketMessage(String type, String id, Map<String, Object> data) {
        @SuppressWarnings("unchecked")
        static WebSocketMessage of(Map<String, Object> message) {
            Object data = message.get("data");
            return new WebSocketMessage(
                    (String) message.get("type"),
                    String.valueOf(message.get("id")),
                    data instanceof Map ? (Map<String, Object>) data : null);
        }

        Map<String, Object> getData() {
            return data;
        }

        Map<String, Object> toJson() {
            return fields("type", type, "id", id, "data", data);
        }
    }

    // ---- section 10.2's TiGatewayWebSocketClient, method by method ------------------------

    static final class TiGatewayWebSocketClient {
        private final HttpClient webSocketClient = HttpClient.newHttpClient();
        private volatile WebSocket session;
        private final Set<String> subscriptions = new HashSet<>();
        private final Map<String, Consumer<WebSocketMessage>> messageHandlers = new HashMap<>();
        final CountDownLatch established = new CountDownLatch(1);
        private int attempts;

        public void connect(String url) {
            try {
                int attempt = ++attempts;
                emit("connecting", fields("attempt", attempt, "url", url.replaceAll("token=[^&]*", "token=<redacted>")));
                WebSocket.Listener handler = new WebSocket.Listener() {
                    private final StringBuilder text = new StringBuilder();

                    @Override
                    public void onOpen(WebSocket webSocket) {
                        // afterConnectionEstablished
                        emit("open", fields("attempt", attempt));
                        TiGatewayWebSocketClient.this.session = webSocket;
                        log.info("WebSocket connected");
                        // Resubscribe to previous topics
                        if (!subscriptions.isEmpty()) {
                            subscribe(new ArrayList<>(subscriptions));
                        }
                        established.countDown();
                        webSocket.request(1);
                    }

                    @Override
                    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                        // handleMessage (whole messages only: supportsPartialMessages() is false)
                        text.append(data);
                        if (last) {
                            String payload = text.toString();
                            text.setLength(0);
                            emit("message", fields("attempt", attempt, "message", Json.parse(payload)));
                            handleMessage(payload);
                        }
                        webSocket.request(1);
                        return null;
                    }

                    @Override
                    public CompletionStage<?> onPing(WebSocket webSocket, ByteBuffer message) {
                        // The JDK sends the pong itself.
                        emit("protocol_ping", fields("attempt", attempt));
                        webSocket.request(1);
                        return null;
                    }

                    @Override
                    public void onError(WebSocket webSocket, Throwable exception) {
                        // handleTransportError (and the end of the session)
                        emit("ws_error", fields("attempt", attempt, "message", String.valueOf(exception)));
                        log.error("WebSocket transport error", exception);
                        emit("close", fields("attempt", attempt, "code", 1006, "reason", String.valueOf(exception)));
                        TiGatewayWebSocketClient.this.session = null;
                    }

                    @Override
                    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
                        // afterConnectionClosed
                        emit("close", fields("attempt", attempt, "code", statusCode, "reason", reason));
                        log.info("WebSocket disconnected: {}", "CloseStatus[code=" + statusCode + ", reason=" + reason + "]");
                        TiGatewayWebSocketClient.this.session = null;
                        return null;
                    }
                };

                CompletableFuture<WebSocket> execution =
                        webSocketClient.newWebSocketBuilder().buildAsync(URI.create(url), handler);
                execution.whenComplete((webSocket, error) -> {
                    if (error != null) {
                        emit("ws_error", fields("attempt", attempt, "message", String.valueOf(error)));
                        emit("close", fields("attempt", attempt, "code", 1006, "reason", String.valueOf(error)));
                        log.error("Failed to connect to WebSocket", error);
                    }
                });

            } catch (Exception e) {
                log.error("Failed to connect to WebSocket", e);
            }
        }

        private void handleMessage(String payload) {
            try {
                @SuppressWarnings("unchecked")
                Map<String, Object> message = (Map<String, Object>) Json.parse(payload);
                String type = String.valueOf(message.get("type"));

                Consumer<WebSocketMessage> handler = messageHandlers.get(type);
                if (handler != null) {
                    handler.accept(WebSocketMessage.of(message));
                } else {
                    log.debug("Unhandled message type: {}", type);
                }

            } catch (Exception e) {
                log.error("Failed to handle message", e);
            }
        }

        public void send(WebSocketMessage message) {
            WebSocket current = session;
            if (current != null && !current.isOutputClosed()) {
                try {
                    String payload = Json.write(message.toJson());
                    current.sendText(payload, true).get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    log.error("Failed to send message", e);
                }
            } else {
                log.error("WebSocket is not connected");
            }
        }

        public void subscribe(List<String> topics) {
            WebSocketMessage message = new WebSocketMessage(
                    "subscribe", "sub-" + System.currentTimeMillis(), fields("topics", topics));

            send(message);
            subscriptions.addAll(topics);
        }

        public void onMessageType(String type, Consumer<WebSocketMessage> handler) {
            messageHandlers.put(type, handler);
        }
    }

    // ---- application handlers (as in harness.js/handlers.js) ------------------------------

    @SuppressWarnings("unchecked")
    static Map<String, Object> handleRouteUpdate(WebSocketMessage message) {
        // Section 4.1: data.action, data.route.
        Map<String, Object> route = (Map<String, Object>) message.getData().get("route");
        return fields("type", "route_update", "action", message.getData().get("action"),
                "id", route.get("id"), "uri", route.get("uri"), "status", route.get("status"));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> handleConfigUpdate(WebSocketMessage message) {
        // Section 5.1: data.config is the route_config document with its id; a gateway reloads
        // data.config.routes and data.config.globalFilters (a NullPointerException if absent).
        Map<String, Object> data = message.getData();
        Map<String, Object> config = (Map<String, Object>) data.get("config");
        List<Object> routes = new ArrayList<>();
        for (Object item : (List<Object>) config.get("routes")) {
            Map<String, Object> route = (Map<String, Object>) item;
            routes.add(fields("id", route.get("id"), "uri", route.get("uri")));
        }
        List<Object> globalFilters = new ArrayList<>();
        for (Object filter : (List<Object>) config.get("globalFilters")) {
            globalFilters.add(filter instanceof Map ? ((Map<String, Object>) filter).get("name") : filter);
        }
        return fields("type", "config_update", "configType", data.get("configType"),
                "action", data.get("action"), "id", config.get("id"),
                "routes", routes, "globalFilters", globalFilters);
    }

    static Map<String, Object> handleError(WebSocketMessage message) {
        // Section 9.1: data.code, data.details, data.requestId.
        Map<String, Object> data = message.getData();
        return fields("type", "error", "code", data.get("code"), "details", data.get("details"),
                "requestId", data.get("requestId"));
    }

    @SuppressWarnings("unchecked")
    static Consumer<WebSocketMessage> recorded(String type, java.util.function.Function<WebSocketMessage, Map<String, Object>> handler) {
        return message -> {
            Map<String, Object> seen;
            try {
                seen = handler.apply(message);
            } catch (RuntimeException e) {
                Map<String, Object> data = message.getData();
                Object config = data == null ? null : data.get("config");
                emit("handler_threw", fields("type", type, "error", String.valueOf(e),
                        "dataKeys", data == null ? null : new ArrayList<>(data.keySet()),
                        "dataConfigKeys", config instanceof Map ? new ArrayList<>(((Map<String, Object>) config).keySet()) : null));
                throw e;
            }
            emit("handled", seen);
        };
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: java SeedJavaClient URL TOPIC[,TOPIC...]");
            System.exit(2);
        }
        // The document's usage example (WebSocketClientConfig), plus a 5.1 config handler.
        TiGatewayWebSocketClient client = new TiGatewayWebSocketClient();
        Consumer<WebSocketMessage> onRoute = recorded("route_update", SeedJavaClient::handleRouteUpdate);
        client.onMessageType("route_update", message -> {
            log.info("Route updated: {}", message.getData());
            onRoute.accept(message);
        });
        client.onMessageType("metrics", message -> {
            log.info("Metrics: {}", message.getData());
        });
        Consumer<WebSocketMessage> onError = recorded("error", SeedJavaClient::handleError);
        client.onMessageType("error", message -> {
            log.error("Error: {}", message.getData());
            onError.accept(message);
        });
        client.onMessageType("config_update", recorded("config_update", SeedJavaClient::handleConfigUpdate));

        Runtime.getRuntime().addShutdownHook(new Thread(() -> emit("stopped", fields("attempts", client.attempts))));

        client.connect(args[0]);
        // Spring's execute() returns a future; the application subscribes once connected.
        if (client.established.await(30, TimeUnit.SECONDS)) {
            client.subscribe(List.of(args[1].split(",")));
        }
        // Then it only listens.
        Thread.currentThread().join();
    }

    // ---- a small JSON reader and writer (the JDK has none) --------------------------------

    static final class Json {
        private final String text;
        private int at;

        private Json(String text) {
            this.text = text;
        }

        static Object parse(String text) {
            Json json = new Json(text);
            json.space();
            Object value = json.value();
            json.space();
            if (json.at != text.length()) {
                throw json.error("trailing characters");
            }
            return value;
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("JSON: " + what + " at " + at);
        }

        private void space() {
            while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
        }

        private Object value() {
            if (at >= text.length()) {
                throw error("unexpected end");
            }
            char c = text.charAt(at);
            switch (c) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    return number();
            }
        }

        private Object literal(String word, Object value) {
            if (!text.startsWith(word, at)) {
                throw error("bad literal");
            }
            at += word.length();
            return value;
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            at++;
            space();
            if (text.charAt(at) == '}') {
                at++;
                return map;
            }
            while (true) {
                space();
                String key = string();
                space();
                if (text.charAt(at++) != ':') {
                    throw error("':' expected");
                }
                space();
                map.put(key, value());
                space();
                char c = text.charAt(at++);
                if (c == '}') {
                    return map;
                }
                if (c != ',') {
                    throw error("',' or '}' expected");
                }
            }
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            at++;
            space();
            if (text.charAt(at) == ']') {
                at++;
                return list;
            }
            while (true) {
                space();
                list.add(value());
                space();
                char c = text.charAt(at++);
                if (c == ']') {
                    return list;
                }
                if (c != ',') {
                    throw error("',' or ']' expected");
                }
            }
        }

        private String string() {
            if (text.charAt(at) != '"') {
                throw error("string expected");
            }
            at++;
            StringBuilder out = new StringBuilder();
            while (true) {
                char c = text.charAt(at++);
                if (c == '"') {
                    return out.toString();
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = text.charAt(at++);
                switch (e) {
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                        at += 4;
                    }
                    default -> out.append(e);
                }
            }
        }

        private Number number() {
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) {
                at++;
            }
            String literal = text.substring(start, at);
            if (literal.isEmpty()) {
                throw error("value expected");
            }
            if (literal.contains(".") || literal.contains("e") || literal.contains("E")) {
                return Double.parseDouble(literal);
            }
            return Long.parseLong(literal);
        }

        static String describe(Object value) {
            return value instanceof String s ? s : write(value);
        }

        static String write(Object value) {
            StringBuilder out = new StringBuilder();
            write(value, out);
            return out.toString();
        }

        private static void write(Object value, StringBuilder out) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof String s) {
                out.append('"');
                for (int i = 0; i < s.length(); i++) {
                    char c = s.charAt(i);
                    switch (c) {
                        case '"' -> out.append("\\\"");
                        case '\\' -> out.append("\\\\");
                        case '\n' -> out.append("\\n");
                        case '\r' -> out.append("\\r");
                        case '\t' -> out.append("\\t");
                        default -> {
                            if (c < 0x20) {
                                out.append(String.format("\\u%04x", (int) c));
                            } else {
                                out.append(c);
                            }
                        }
                    }
                }
                out.append('"');
            } else if (value instanceof Number || value instanceof Boolean) {
                out.append(value);
            } else if (value instanceof Map<?, ?> map) {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> entry : map.entrySet()) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    write(String.valueOf(entry.getKey()), out);
                    out.append(':');
                    write(entry.getValue(), out);
                }
                out.append('}');
            } else if (value instanceof Iterable<?> items) {
                out.append('[');
                boolean first = true;
                for (Object item : items) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    write(item, out);
                }
                out.append(']');
            } else {
                write(String.valueOf(value), out);
            }
        }
    }
}
