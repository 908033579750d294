"""Protection of the daemon against floods and brute-force authentication (SPEC section 2)."""

from pbx.security.guard import Ban, BanReason, Guard

__all__ = ["Ban", "BanReason", "Guard"]
