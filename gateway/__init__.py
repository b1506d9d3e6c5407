"""The HTTP gateway: the only package that knows Flask, OAuth and HTTP."""
