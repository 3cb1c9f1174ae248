"""The test kit: stand-ins for the services bridge talks to, for bridge's tests and yours."""
