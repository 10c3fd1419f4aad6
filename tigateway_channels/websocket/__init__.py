"""The WebSocket edge of ``/ws/tigateway``: routing, the consumer, authentication, origin and
rate checks, connection parameters, the inbound queue and one handler per request type.

It adapts frames to the services and the delivery engine; it holds no rules of its own.
"""
