"""Trunks: the PBX as a client of its carriers (registration; calls go through pbx.calls)."""
