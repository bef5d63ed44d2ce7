"""Transport adapters: one module per WebSocket implementation."""
