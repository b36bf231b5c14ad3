"""Accounts: passwords, sessions, API tokens, and the middleware that decides who may do what."""
