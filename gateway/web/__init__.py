"""The web layer: the Flask app, its blueprints, wire schemas, OAuth 2.0 and the one error table."""
