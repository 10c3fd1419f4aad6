"""Business rules every entry point (admin, REST, WebSocket, shell) goes through."""
